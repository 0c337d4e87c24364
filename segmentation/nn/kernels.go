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
func (g convGeom) valid() bool {
	return g.n > 0 && g.inC > 0 && g.outC > 0 && g.out[0] > 0 && g.out[1] > 0 && g.out[2] > 0
}

// flops is the multiply-add count ×2 of the forward convolution.
func (g convGeom) flops() float64 {
	return 2 * float64(g.n) * float64(g.outC) * float64(g.kdim()) * float64(g.outVox())
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

// The kernels use a "wide" output grid for k > 1: output voxel (x, y, z) has
// wide index q = x + X·(y + Y·z) over the INPUT row and plane sizes X, Y, so
// the column of kernel tap (c, kz, ky, kx) over a range of q is one
// contiguous run of the input, shifted by dil·(kx + X·ky + X·Y·kz). vol2col
// then copies long runs instead of x'-long rows; the price is SGEMM work on
// the (k−1)·dil garbage columns and rows per row and plane (4–20 % for the
// tile and patch sizes in use), which are dropped when results are written.

// wideLen is one past the last valid wide index.
func (g convGeom) wideLen() int {
	return (g.out[2]-1)*g.in[0]*g.in[1] + (g.out[1]-1)*g.in[0] + g.out[0]
}

// wideRows is the number of wide rows (x-runs of length X) to cover.
func (g convGeom) wideRows() int { return (g.out[2]-1)*g.in[1] + g.out[1] }

// wideRowsPerChunk is the number of wide rows per vol2col chunk.
func (g convGeom) wideRowsPerChunk(target, minCols int) int {
	cols := max(target/g.kdim(), minCols)
	return min(max(cols/g.in[0], 1), g.wideRows())
}

// chunk returns the wide index range of chunk c of rpc rows.
func (g convGeom) chunk(c, rpc int) (q0, q1 int) {
	q0 = c * rpc * g.in[0]
	return q0, min(q0+rpc*g.in[0], g.wideLen())
}

// vol2colWide writes the column matrix [inC·k³][q1−q0] of wide indices
// [q0, q1) of one sample src [inC][z][y][x].
func vol2colWide(col, src []float32, g convGeom, q0, q1 int) {
	n := q1 - q0
	plane := g.in[0] * g.in[1]
	vox := plane * g.in[2]
	row := 0
	for c := 0; c < g.inC; c++ {
		for kz := 0; kz < g.k; kz++ {
			for ky := 0; ky < g.k; ky++ {
				off := c*vox + q0 + g.dil*(kz*plane+ky*g.in[0])
				for kx := 0; kx < g.k; kx++ {
					copy(col[row*n:(row+1)*n], src[off+kx*g.dil:])
					row++
				}
			}
		}
	}
}

// eachValidRun calls fn for every run of valid output voxels inside wide
// range [q0, q1) (q0 a multiple of X): wide offset i = q − q0, compact
// output index o and run length n.
func (g convGeom) eachValidRun(q0, q1 int, fn func(i, o, n int)) {
	X, Y := g.in[0], g.in[1]
	for r := q0 / X; r*X < q1; r++ {
		z, y := r/Y, r%Y
		if y >= g.out[1] {
			continue
		}
		n := min(g.out[0], q1-r*X)
		fn(r*X-q0, (z*g.out[1]+y)*g.out[0], n)
	}
}

// convForward computes dst = act(w ⊛ src + b) for a batch. w is
// [outC][inC·k³] (input channel slowest, then kz, ky, kx), b is [outC] or nil.
func (e *engine) convForward(dst, src, w, b []float32, g convGeom, relu bool) {
	if g.k == 1 {
		e.convForward1(dst, src, w, b, g, relu)
		return
	}
	rpc := g.wideRowsPerChunk(e.colTarget, e.minCols)
	nch := (g.wideRows() + rpc - 1) / rpc
	// Small tiles: split finer so that every worker has work. (Each output
	// column's dot products do not depend on the chunking.)
	for rpc > 1 && g.n*nch < 2*e.workers {
		rpc = (rpc + 1) / 2
		nch = (g.wideRows() + rpc - 1) / rpc
	}
	K := g.kdim()
	inStride, outStride := g.inC*g.inVox(), g.outC*g.outVox()
	ovox := g.outVox()
	maxN := rpc * g.in[0]
	e.parallel(g.n*nch, (K+g.outC)*maxN, func(t int, scratch []float32) {
		s, c := t/nch, t%nch
		q0, q1 := g.chunk(c, rpc)
		n := q1 - q0
		col, tmp := scratch[:K*n], scratch[K*maxN:K*maxN+g.outC*n]
		vol2colWide(col, src[s*inStride:(s+1)*inStride], g, q0, q1)
		e.blas.Sgemm(blas.NoTrans, blas.NoTrans, g.outC, n, K, 1, w, K, col, n, 0, tmp, n)
		out := dst[s*outStride : (s+1)*outStride]
		for o := 0; o < g.outC; o++ {
			var bias float32
			if b != nil {
				bias = b[o]
			}
			to := tmp[o*n : (o+1)*n]
			oo := out[o*ovox : (o+1)*ovox]
			g.eachValidRun(q0, q1, func(i, j, m int) {
				actRow(oo[j:j+m], to[i:i+m], bias, relu)
			})
		}
	})
}

// actRow writes dst = src + bias, clamped at 0 if relu.
func actRow(dst, src []float32, bias float32, relu bool) {
	if relu {
		for i, v := range src {
			dst[i] = max(v+bias, 0)
		}
		return
	}
	for i, v := range src {
		dst[i] = v + bias
	}
}

// convForward1 is convForward for 1×1×1 kernels: the input is already the
// column matrix.
func (e *engine) convForward1(dst, src, w, b []float32, g convGeom, relu bool) {
	vox := g.inVox()
	cols := max(e.colTarget/g.kdim(), e.minCols)
	nch := (vox + cols - 1) / cols
	inStride, outStride := g.inC*vox, g.outC*vox
	e.parallel(g.n*nch, 0, func(t int, _ []float32) {
		s, c := t/nch, t%nch
		p0 := c * cols
		n := min(cols, vox-p0)
		cm := dst[s*outStride+p0:]
		e.blas.Sgemm(blas.NoTrans, blas.NoTrans, g.outC, n, g.inC, 1, w, g.inC, src[s*inStride+p0:], vox, 0, cm, vox)
		for o := 0; o < g.outC; o++ {
			var bias float32
			if b != nil {
				bias = b[o]
			}
			row := cm[o*vox : o*vox+n]
			if relu || bias != 0 {
				actRow(row, row, bias, relu)
			}
		}
	})
}

// convWeightGrad computes dw = Σ_samples dy ⋆ src, shape [outC][inC·k³].
// Partial sums per fixed chunk group are added in group order, so the result
// does not depend on the number of workers or on scheduling.
func (e *engine) convWeightGrad(dw, src, dy []float32, g convGeom) {
	var rpc, nch, maxN int
	if g.k == 1 {
		rpc = max(e.colTarget/g.kdim(), e.minCols) // voxels per chunk
		nch = (g.inVox() + rpc - 1) / rpc
	} else {
		rpc = g.wideRowsPerChunk(e.colTarget, e.minCols)
		nch = (g.wideRows() + rpc - 1) / rpc
		maxN = rpc * g.in[0]
	}
	total := g.n * nch
	groups := min(total, maxWeightGradGroups)
	K := g.kdim()
	size := g.outC * K
	parts := e.get(groups * size)
	defer e.put(parts)
	inStride, outStride := g.inC*g.inVox(), g.outC*g.outVox()
	ovox := g.outVox()
	e.parallel(groups, (K+g.outC)*maxN, func(gi int, scratch []float32) {
		part := (*parts)[gi*size : (gi+1)*size]
		clear(part)
		for t := gi * total / groups; t < (gi+1)*total/groups; t++ {
			s, c := t/nch, t%nch
			sample := src[s*inStride : (s+1)*inStride]
			dys := dy[s*outStride : (s+1)*outStride]
			if g.k == 1 {
				p0 := c * rpc
				n := min(rpc, ovox-p0)
				e.blas.Sgemm(blas.NoTrans, blas.Trans, g.outC, K, n, 1, dys[p0:], ovox, sample[p0:], ovox, 1, part, K)
				continue
			}
			q0, q1 := g.chunk(c, rpc)
			n := q1 - q0
			col, dyw := scratch[:K*n], scratch[K*maxN:K*maxN+g.outC*n]
			vol2colWide(col, sample, g, q0, q1)
			clear(dyw)
			for o := 0; o < g.outC; o++ {
				dst, srcr := dyw[o*n:(o+1)*n], dys[o*ovox:(o+1)*ovox]
				g.eachValidRun(q0, q1, func(i, j, m int) {
					copy(dst[i:i+m], srcr[j:j+m])
				})
			}
			e.blas.Sgemm(blas.NoTrans, blas.Trans, g.outC, K, n, 1, dyw, n, col, n, 1, part, K)
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
