package nn

import "math/rand/v2"

// naiveConv is the 7-loop reference convolution in float64:
// y[n][o][z][y][x] = b[o] + Σ_c,kz,ky,kx w[o][c][kz][ky][kx]·x[n][c][z+kz·d][y+ky·d][x+kx·d].
func naiveConv(x, w, b []float64, g convGeom) []float64 {
	ix, iy, iz := g.in[0], g.in[1], g.in[2]
	ox, oy, oz := g.out[0], g.out[1], g.out[2]
	k, d := g.k, g.dil
	y := make([]float64, g.n*g.outC*g.outVox())
	for n := 0; n < g.n; n++ {
		for o := 0; o < g.outC; o++ {
			for z := 0; z < oz; z++ {
				for yy := 0; yy < oy; yy++ {
					for xx := 0; xx < ox; xx++ {
						s := 0.0
						if b != nil {
							s = b[o]
						}
						for c := 0; c < g.inC; c++ {
							for kz := 0; kz < k; kz++ {
								for ky := 0; ky < k; ky++ {
									for kx := 0; kx < k; kx++ {
										wi := (((o*g.inC+c)*k+kz)*k+ky)*k + kx
										xi := (((n*g.inC+c)*iz+z+kz*d)*iy+yy+ky*d)*ix + xx + kx*d
										s += w[wi] * x[xi]
									}
								}
							}
						}
						y[(((n*g.outC+o)*oz+z)*oy+yy)*ox+xx] = s
					}
				}
			}
		}
	}
	return y
}

// naiveConvBackward returns the exact gradients of L = Σ r·conv(x) in float64.
func naiveConvBackward(x, w, r []float64, g convGeom) (dx, dw, db []float64) {
	ix, iy, iz := g.in[0], g.in[1], g.in[2]
	ox, oy, oz := g.out[0], g.out[1], g.out[2]
	k, d := g.k, g.dil
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, g.outC)
	for n := 0; n < g.n; n++ {
		for o := 0; o < g.outC; o++ {
			for z := 0; z < oz; z++ {
				for yy := 0; yy < oy; yy++ {
					for xx := 0; xx < ox; xx++ {
						rv := r[(((n*g.outC+o)*oz+z)*oy+yy)*ox+xx]
						db[o] += rv
						for c := 0; c < g.inC; c++ {
							for kz := 0; kz < k; kz++ {
								for ky := 0; ky < k; ky++ {
									for kx := 0; kx < k; kx++ {
										wi := (((o*g.inC+c)*k+kz)*k+ky)*k + kx
										xi := (((n*g.inC+c)*iz+z+kz*d)*iy+yy+ky*d)*ix + xx + kx*d
										dw[wi] += rv * x[xi]
										dx[xi] += rv * w[wi]
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

func randSlice(rng *rand.Rand, n int, scale float64) ([]float32, []float64) {
	f := make([]float32, n)
	d := make([]float64, n)
	for i := range f {
		f[i] = float32((rng.Float64()*2 - 1) * scale)
		d[i] = float64(f[i])
	}
	return f, d
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// maxRelErr is max |a−b| / (max|b| + tiny) over the arrays.
func maxRelErr(a []float32, b []float64) float64 {
	var m, worst float64
	for _, v := range b {
		m = max(m, abs(v))
	}
	for i := range a {
		worst = max(worst, abs(float64(a[i])-b[i]))
	}
	return worst / (m + 1e-12)
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
