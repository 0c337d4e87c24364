package nn

import (
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
)

// colTargetFloats bounds one worker's vol2col buffer (floats): the column
// chunk is sized so that it stays in the outer caches while SGEMM reads it.
const colTargetFloats = 1 << 18

// minChunkCols keeps chunks wide enough for SGEMM to be efficient.
const minChunkCols = 512

// maxWeightGradGroups bounds the partial weight-gradient buffers; the number
// of groups depends on the shape only, so sums are bit-reproducible whatever
// the number of workers.
const maxWeightGradGroups = 32

// convGeom describes one VALID 3D convolution over a batch of n samples
// laid out [n][inC][z][y][x] → [n][outC][z'][y'][x'].
type convGeom struct {
	n, inC, outC int
	k, dil       int
	in, out      [3]int // x, y, z
}

func newConvGeom(n, inC, outC, k, dil int, in [3]int) convGeom {
	g := convGeom{n: n, inC: inC, outC: outC, k: k, dil: dil, in: in}
	for i := range in {
		g.out[i] = in[i] - (k-1)*dil
	}
	return g
}

func (g convGeom) kdim() int   { return g.inC * g.k * g.k * g.k }
func (g convGeom) inVox() int  { return g.in[0] * g.in[1] * g.in[2] }
func (g convGeom) outVox() int { return g.out[0] * g.out[1] * g.out[2] }
func (g convGeom) rows() int   { return g.out[1] * g.out[2] }
func (g convGeom) valid() bool {
	return g.n > 0 && g.inC > 0 && g.outC > 0 && g.out[0] > 0 && g.out[1] > 0 && g.out[2] > 0
}

// flops is the multiply-add count ×2 of the forward convolution.
func (g convGeom) flops() float64 {
	return 2 * float64(g.n) * float64(g.outC) * float64(g.kdim()) * float64(g.outVox())
}

// rowsPerChunk is the number of output rows (y, z pairs) per vol2col chunk
// for a column buffer of about target floats and at least minCols columns.
func (g convGeom) rowsPerChunk(target, minCols int) int {
	cols := target / g.kdim()
	if cols < minCols {
		cols = minCols
	}
	r := cols / g.out[0]
	if r < 1 {
		r = 1
	}
	if r > g.rows() {
		r = g.rows()
	}
	return r
}

// engine runs the kernels: a BLAS, a worker count and scratch buffers reused
// across calls. It is safe for concurrent use.
type engine struct {
	blas    blas.Float32
	workers int
	// colTarget and minCols size the vol2col chunks (see rowsPerChunk);
	// tests shrink them to exercise chunk boundaries.
	colTarget, minCols int
	pool               sync.Pool // *[]float32
}

func newEngine() *engine {
	return &engine{blas: sgemmImpl(), workers: runtime.GOMAXPROCS(0), colTarget: colTargetFloats, minCols: minChunkCols}
}

// get returns a scratch slice of length n (contents undefined).
func (e *engine) get(n int) *[]float32 {
	if p, ok := e.pool.Get().(*[]float32); ok {
		if cap(*p) >= n {
			*p = (*p)[:n]
			return p
		}
	}
	s := make([]float32, n)
	return &s
}

func (e *engine) put(p *[]float32) {
	if p != nil {
		e.pool.Put(p)
	}
}

// parallel runs fn for every task in [0, n) on up to e.workers goroutines,
// each with its own scratch slice of length scratch. Tasks must write
// disjoint memory.
func (e *engine) parallel(n, scratch int, fn func(task int, buf []float32)) {
	w := e.workers
	if w > n {
		w = n
	}
	if w <= 1 {
		p := e.get(scratch)
		for t := 0; t < n; t++ {
			fn(t, *p)
		}
		e.put(p)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		wg.Go(func() {
			p := e.get(scratch)
			defer e.put(p)
			for {
				t := int(next.Add(1) - 1)
				if t >= n {
					return
				}
				fn(t, *p)
			}
		})
	}
	wg.Wait()
}

// vol2col writes the column matrix [inC·k³][(r1−r0)·x'] of output rows
// [r0, r1) (row = z'·y' + y) of one sample src [inC][z][y][x].
func vol2col(col, src []float32, g convGeom, r0, r1 int) {
	ox, oy := g.out[0], g.out[1]
	ncols := (r1 - r0) * ox
	plane := g.in[0] * g.in[1]
	vox := plane * g.in[2]
	row := 0
	for c := 0; c < g.inC; c++ {
		sc := src[c*vox : (c+1)*vox]
		for kz := 0; kz < g.k; kz++ {
			for ky := 0; ky < g.k; ky++ {
				for kx := 0; kx < g.k; kx++ {
					dst := col[row*ncols : (row+1)*ncols]
					z, y := r0/oy, r0%oy
					base := kx*g.dil + ky*g.dil*g.in[0] + kz*g.dil*plane
					for i := 0; i < ncols; i += ox {
						off := base + z*plane + y*g.in[0]
						copy(dst[i:i+ox], sc[off:off+ox])
						if y++; y == oy {
							y = 0
							z++
						}
					}
					row++
				}
			}
		}
	}
}

// convForward computes dst = act(w ⊛ src + b) for a batch. w is
// [outC][inC·k³] (input channel slowest, then kz, ky, kx), b is [outC] or nil.
func (e *engine) convForward(dst, src, w, b []float32, g convGeom, relu bool) {
	rpc := g.rowsPerChunk(e.colTarget, e.minCols)
	nch := (g.rows() + rpc - 1) / rpc
	K := g.kdim()
	inStride, outStride := g.inC*g.inVox(), g.outC*g.outVox()
	ox, ovox := g.out[0], g.outVox()
	scratch := 0
	if g.k > 1 {
		scratch = K * rpc * ox
	}
	e.parallel(g.n*nch, scratch, func(t int, col []float32) {
		s, c := t/nch, t%nch
		r0 := c * rpc
		r1 := min(r0+rpc, g.rows())
		ncols := (r1 - r0) * ox
		var bm []float32
		var ldb int
		sample := src[s*inStride : (s+1)*inStride]
		if g.k == 1 {
			bm, ldb = sample[r0*ox:], g.inVox()
		} else {
			vol2col(col, sample, g, r0, r1)
			bm, ldb = col[:K*ncols], ncols
		}
		cm := dst[s*outStride+r0*ox:]
		e.blas.Sgemm(blas.NoTrans, blas.NoTrans, g.outC, ncols, K, 1, w, K, bm, ldb, 0, cm, ovox)
		for o := 0; o < g.outC; o++ {
			row := cm[o*ovox : o*ovox+ncols]
			var bias float32
			if b != nil {
				bias = b[o]
			}
			if relu {
				for i, v := range row {
					v += bias
					if v < 0 {
						v = 0
					}
					row[i] = v
				}
			} else if bias != 0 {
				for i := range row {
					row[i] += bias
				}
			}
		}
	})
}

// convWeightGrad computes dw = Σ_samples dy ⋆ src, shape [outC][inC·k³].
// Partial sums per fixed chunk group are added in group order, so the result
// does not depend on the number of workers or on scheduling.
func (e *engine) convWeightGrad(dw, src, dy []float32, g convGeom) {
	rpc := g.rowsPerChunk(e.colTarget, e.minCols)
	nch := (g.rows() + rpc - 1) / rpc
	total := g.n * nch
	groups := min(total, maxWeightGradGroups)
	K := g.kdim()
	size := g.outC * K
	parts := e.get(groups * size)
	defer e.put(parts)
	inStride, outStride := g.inC*g.inVox(), g.outC*g.outVox()
	ox, ovox := g.out[0], g.outVox()
	scratch := 0
	if g.k > 1 {
		scratch = K * rpc * ox
	}
	e.parallel(groups, scratch, func(gi int, col []float32) {
		part := (*parts)[gi*size : (gi+1)*size]
		clear(part)
		for t := gi * total / groups; t < (gi+1)*total/groups; t++ {
			s, c := t/nch, t%nch
			r0 := c * rpc
			r1 := min(r0+rpc, g.rows())
			ncols := (r1 - r0) * ox
			sample := src[s*inStride : (s+1)*inStride]
			var bm []float32
			var ldb int
			if g.k == 1 {
				bm, ldb = sample[r0*ox:], g.inVox()
			} else {
				vol2col(col, sample, g, r0, r1)
				bm, ldb = col[:K*ncols], ncols
			}
			e.blas.Sgemm(blas.NoTrans, blas.Trans, g.outC, K, ncols, 1, dy[s*outStride+r0*ox:], ovox, bm, ldb, 1, part, K)
		}
	})
	copy(dw, (*parts)[:size])
	for gi := 1; gi < groups; gi++ {
		part := (*parts)[gi*size : (gi+1)*size]
		for i, v := range part {
			dw[i] += v
		}
	}
}

// convBiasGrad computes db[o] = Σ dy over samples and voxels.
func convBiasGrad(db, dy []float32, g convGeom) {
	ovox := g.outVox()
	for o := 0; o < g.outC; o++ {
		var s float64
		for n := 0; n < g.n; n++ {
			for _, v := range dy[(n*g.outC+o)*ovox : (n*g.outC+o+1)*ovox] {
				s += float64(v)
			}
		}
		db[o] = float32(s)
	}
}

// convInputGrad computes dx = ∂L/∂src from dy as a VALID convolution of dy,
// zero-padded by (k−1)·dil, with the flipped, channel-transposed weights.
// Written as a forward convolution it parallelises without write conflicts.
func (e *engine) convInputGrad(dx, dy, w []float32, g convGeom) {
	kk := g.k * g.k * g.k
	wt := e.get(g.inC * g.outC * kk)
	defer e.put(wt)
	for o := 0; o < g.outC; o++ {
		for c := 0; c < g.inC; c++ {
			for j := 0; j < kk; j++ {
				(*wt)[(c*g.outC+o)*kk+kk-1-j] = w[(o*g.inC+c)*kk+j]
			}
		}
	}
	p := (g.k - 1) * g.dil
	var pin [3]int
	for i := range pin {
		pin[i] = g.out[i] + 2*p
	}
	gt := newConvGeom(g.n, g.outC, g.inC, g.k, g.dil, pin)
	if p == 0 {
		e.convForward(dx, dy, *wt, nil, gt, false)
		return
	}
	pvox := pin[0] * pin[1] * pin[2]
	padded := e.get(g.n * g.outC * pvox)
	defer e.put(padded)
	pb := *padded
	clear(pb)
	ox, oy, oz := g.out[0], g.out[1], g.out[2]
	for sc := 0; sc < g.n*g.outC; sc++ {
		srcc := dy[sc*g.outVox() : (sc+1)*g.outVox()]
		dstc := pb[sc*pvox : (sc+1)*pvox]
		for z := 0; z < oz; z++ {
			for y := 0; y < oy; y++ {
				d := ((z+p)*pin[1]+y+p)*pin[0] + p
				copy(dstc[d:d+ox], srcc[(z*oy+y)*ox:(z*oy+y+1)*ox])
			}
		}
	}
	e.convForward(dx, pb, *wt, nil, gt, false)
}

// reluGrad writes dpre = dy where out > 0, else 0.
func reluGrad(dpre, out, dy []float32) {
	for i, v := range out {
		if v > 0 {
			dpre[i] = dy[i]
		} else {
			dpre[i] = 0
		}
	}
}
