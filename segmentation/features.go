package segmentation

import (
	"math"

	"github.com/mhpnet/node/volume"
)

// gaussKernel returns a normalised 1D Gaussian of standard deviation sigma
// (in voxels), truncated at 3 sigma.
func gaussKernel(sigma float64) []float32 {
	if sigma <= 0 {
		return []float32{1}
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var s float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		k[i+r] = float32(v)
		s += v
	}
	for i := range k {
		k[i] /= float32(s)
	}
	return k
}

// blur returns g smoothed with a separable Gaussian of sigmaMM along every
// axis (edges replicated).
func blur(g *grid, sigmaMM float64) *grid {
	cur := append([]float32(nil), g.data...)
	nx, ny, nz := g.size[0], g.size[1], g.size[2]
	tmp := make([]float32, len(cur))
	// x: contiguous lines
	if k := gaussKernel(sigmaMM / g.spacing[0]); len(k) > 1 && nx > 1 {
		r := len(k) / 2
		for l := 0; l < ny*nz; l++ {
			src, dst := cur[l*nx:(l+1)*nx], tmp[l*nx:(l+1)*nx]
			for i := range dst {
				var s float32
				for j, w := range k {
					s += w * src[clampInt(i+j-r, nx)]
				}
				dst[i] = s
			}
		}
		cur, tmp = tmp, cur
	}
	// y and z: weighted sums of whole rows (planes), vectorisable
	axis := func(n, rowLen, blocks int, sigmaVox float64) {
		k := gaussKernel(sigmaVox)
		if len(k) == 1 || n == 1 {
			return
		}
		r := len(k) / 2
		for b := 0; b < blocks; b++ {
			off := b * n * rowLen
			for i := 0; i < n; i++ {
				dst := tmp[off+i*rowLen : off+(i+1)*rowLen]
				for x := range dst {
					dst[x] = 0
				}
				for j, w := range k {
					src := cur[off+clampInt(i+j-r, n)*rowLen : off+(clampInt(i+j-r, n)+1)*rowLen]
					for x, v := range src {
						dst[x] += w * v
					}
				}
			}
		}
		cur, tmp = tmp, cur
	}
	axis(ny, nx, nz, sigmaMM/g.spacing[1])
	axis(nz, nx*ny, 1, sigmaMM/g.spacing[2])
	return &grid{size: g.size, spacing: g.spacing, off: g.off, step: g.step, data: cur}
}

// bodyFrame holds, per slice of a grid, the centre and spread of the body
// (voxels above -400 HU), used to express position relative to the body
// outline so that the liver's place in the right upper abdomen is a feature.
type bodyFrame struct {
	cx, cy, sx, sy []float64 // per slice, grid voxels
}

func computeBodyFrame(ct *grid) bodyFrame {
	nx, ny, nz := ct.size[0], ct.size[1], ct.size[2]
	f := bodyFrame{cx: make([]float64, nz), cy: make([]float64, nz), sx: make([]float64, nz), sy: make([]float64, nz)}
	var gn, gx, gy, gxx, gyy float64
	ok := make([]bool, nz)
	for z := 0; z < nz; z++ {
		var n, sx, sy, sxx, syy float64
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				if ct.data[ct.index(x, y, z)] > -400 {
					fx, fy := float64(x), float64(y)
					n++
					sx += fx
					sy += fy
					sxx += fx * fx
					syy += fy * fy
				}
			}
		}
		gn += n
		gx += sx
		gy += sy
		gxx += sxx
		gyy += syy
		if n >= 50 {
			mx, my := sx/n, sy/n
			f.cx[z], f.cy[z] = mx, my
			f.sx[z] = math.Sqrt(math.Max(sxx/n-mx*mx, 1))
			f.sy[z] = math.Sqrt(math.Max(syy/n-my*my, 1))
			ok[z] = true
		}
	}
	var mx, my, vx, vy float64
	if gn > 0 {
		mx, my = gx/gn, gy/gn
		vx = math.Sqrt(math.Max(gxx/gn-mx*mx, 1))
		vy = math.Sqrt(math.Max(gyy/gn-my*my, 1))
	} else {
		mx, my, vx, vy = float64(nx)/2, float64(ny)/2, float64(nx)/4, float64(ny)/4
	}
	for z := 0; z < nz; z++ {
		if !ok[z] {
			f.cx[z], f.cy[z], f.sx[z], f.sy[z] = mx, my, vx, vy
		}
	}
	return f
}

// liverFeatures are the HU-valued and position grids the liver stage reads;
// windowing happens when a patch or tile is built so that training can
// augment intensities first.
type liverFeatures struct {
	ct, blur1, blur2 *grid
	xrel, yrel       *grid
}

// Liver feature scales (mm): context the small network cannot see itself.
const (
	liverBlur1MM = 6
	liverBlur2MM = 15
)

func computeLiverFeatures(ct *grid, dir [3][3]float64) liverFeatures {
	lf := liverFeatures{ct: ct, blur1: blur(ct, liverBlur1MM), blur2: blur(ct, liverBlur2MM)}
	bf := computeBodyFrame(ct)
	// Patient left is +x in LPS; express x so that +1 is two body standard
	// deviations towards the patient's left whatever the row direction.
	sgnX := 1.0
	if dir[0][0] < 0 {
		sgnX = -1
	}
	sgnY := 1.0
	if dir[1][1] < 0 {
		sgnY = -1
	}
	lf.xrel = &grid{size: ct.size, spacing: ct.spacing, off: ct.off, step: ct.step, data: make([]float32, ct.len())}
	lf.yrel = &grid{size: ct.size, spacing: ct.spacing, off: ct.off, step: ct.step, data: make([]float32, ct.len())}
	for z := 0; z < ct.size[2]; z++ {
		for y := 0; y < ct.size[1]; y++ {
			ry := sgnY * (float64(y) - bf.cy[z]) / (2 * bf.sy[z])
			for x := 0; x < ct.size[0]; x++ {
				i := ct.index(x, y, z)
				lf.xrel.data[i] = float32(sgnX * (float64(x) - bf.cx[z]) / (2 * bf.sx[z]))
				lf.yrel.data[i] = float32(ry)
			}
		}
	}
	return lf
}

// liverChannels lists the liver stage's input grids in channel order; the
// first three are HU valued (windowed), the rest are positions.
func (lf liverFeatures) channels(withPos bool) []*grid {
	c := []*grid{lf.ct, lf.blur1, lf.blur2}
	if withPos {
		c = append(c, lf.xrel, lf.yrel)
	}
	return c
}

// liverInChannels is the liver stage's input channel count.
func liverInChannels(withPos bool) int {
	if withPos {
		return 5
	}
	return 3
}

// liverBoxFromMask returns the bounding box of nonzero voxels in a
// full-size mask, grown by marginMM and clipped to the grid.
func maskBox(m []uint8, g volume.Geometry, val uint8, marginMM float64) (box, bool) {
	lo := [3]int{g.Size[0], g.Size[1], g.Size[2]}
	hi := [3]int{-1, -1, -1}
	nx, ny := g.Size[0], g.Size[1]
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < ny; y++ {
			row := m[nx*(y+ny*z) : nx*(y+ny*z)+nx]
			for x, v := range row {
				if v == val || (val == 0 && v != 0) {
					if x < lo[0] {
						lo[0] = x
					}
					if x > hi[0] {
						hi[0] = x
					}
					if y < lo[1] {
						lo[1] = y
					}
					if y > hi[1] {
						hi[1] = y
					}
					if z < lo[2] {
						lo[2] = z
					}
					if z > hi[2] {
						hi[2] = z
					}
				}
			}
		}
	}
	if hi[0] < 0 {
		return box{}, false
	}
	var b box
	for a := 0; a < 3; a++ {
		mg := int(math.Ceil(marginMM / g.Spacing[a]))
		b.lo[a] = max(lo[a]-mg, 0)
		b.hi[a] = min(hi[a]+1+mg, g.Size[a])
	}
	return b, true
}
