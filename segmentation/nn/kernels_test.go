package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

var convCases = []struct {
	name                 string
	n, inC, outC, k, dil int
	in                   [3]int
}{
	{"k3 d1 odd sizes", 1, 3, 5, 3, 1, [3]int{7, 6, 5}},
	{"k3 d2 batch 2", 2, 2, 4, 3, 2, [3]int{9, 8, 11}},
	{"k1 head", 2, 6, 3, 1, 1, [3]int{5, 4, 3}},
	{"k5 d1", 1, 2, 3, 5, 1, [3]int{9, 7, 6}},
	{"k3 d3 thin", 1, 1, 2, 3, 3, [3]int{7, 13, 7}},
	{"k3 wide x chunks", 2, 4, 6, 3, 1, [3]int{37, 9, 6}},
	{"k3 many channels", 1, 24, 8, 3, 1, [3]int{10, 9, 8}},
}

func TestConvForwardMatchesNaive(t *testing.T) {
	e := newEngine()
	for i, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			g := newConvGeom(tc.n, tc.inC, tc.outC, tc.k, tc.dil, tc.in)
			x, x64 := randSlice(rng, tc.n*tc.inC*g.inVox(), 1)
			w, w64 := randSlice(rng, tc.outC*g.kdim(), 0.5)
			b, b64 := randSlice(rng, tc.outC, 0.5)
			want := naiveConv(x64, w64, b64, g)
			got := make([]float32, len(want))
			e.convForward(got, x, w, b, g, false)
			// float32 sums of up to k³·inC = 648 products against a float64
			// reference: about sqrt(648)·2⁻²⁴ ≈ 1.5e-6 relative, depending on
			// the order the BLAS kernel accumulates in (1.02e-6 seen)
			if err := maxRelErr(got, want); err > 4e-6 {
				t.Errorf("forward max relative error %.3g > 4e-6", err)
			}
			// fused ReLU
			e.convForward(got, x, w, b, g, true)
			for j := range want {
				want[j] = max(want[j], 0)
			}
			if err := maxRelErr(got, want); err > 4e-6 {
				t.Errorf("forward+ReLU max relative error %.3g > 4e-6", err)
			}
		})
	}
}

// TestConvBackwardMatchesReference checks the three gradients of
// L = Σ r·conv(x) against the exact float64 loops, and the loops themselves
// against central finite differences of the float64 reference forward.
func TestConvBackwardMatchesReference(t *testing.T) {
	e := newEngine()
	for i, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			g := newConvGeom(tc.n, tc.inC, tc.outC, tc.k, tc.dil, tc.in)
			x, x64 := randSlice(rng, tc.n*tc.inC*g.inVox(), 1)
			w, w64 := randSlice(rng, tc.outC*g.kdim(), 0.5)
			r, r64 := randSlice(rng, tc.n*tc.outC*g.outVox(), 1)
			dx64, dw64, db64 := naiveConvBackward(x64, w64, r64, g)

			dx := make([]float32, len(x))
			dw := make([]float32, len(w))
			db := make([]float32, tc.outC)
			e.convInputGrad(dx, r, w, g)
			e.convWeightGrad(dw, x, r, g)
			convBiasGrad(db, r, g)
			for _, c := range []struct {
				name string
				got  []float32
				want []float64
			}{{"dx", dx, dx64}, {"dw", dw, dw64}, {"db", db, db64}} {
				if err := maxRelErr(c.got, c.want); err > 2e-6 {
					t.Errorf("%s max relative error %.3g > 2e-6", c.name, err)
				}
			}

			// Finite differences of L(x, w, b) in float64 at a few indices.
			loss := func(x, w, b []float64) float64 {
				y := naiveConv(x, w, b, g)
				s := 0.0
				for j := range y {
					s += y[j] * r64[j]
				}
				return s
			}
			b64 := make([]float64, tc.outC)
			const h = 1e-4
			fd := func(p []float64, j int) float64 {
				old := p[j]
				p[j] = old + h
				lp := loss(x64, w64, b64)
				p[j] = old - h
				lm := loss(x64, w64, b64)
				p[j] = old
				return (lp - lm) / (2 * h)
			}
			for trial := 0; trial < 6; trial++ {
				for _, c := range []struct {
					name  string
					p     []float64
					exact []float64
				}{{"x", x64, dx64}, {"w", w64, dw64}, {"b", b64, db64}} {
					j := rng.IntN(len(c.p))
					num := fd(c.p, j)
					if d := abs(num - c.exact[j]); d > 1e-6*(1+abs(num)) {
						t.Errorf("d%s[%d]: finite difference %.9g, analytic %.9g", c.name, j, num, c.exact[j])
					}
				}
			}
		})
	}
}

func TestWideChunksCoverOutput(t *testing.T) {
	// Every chunk size (wide rows per chunk from 1 to all) gives the same
	// result as the reference.
	rng := rand.New(rand.NewPCG(7, 7))
	g := newConvGeom(1, 2, 3, 3, 2, [3]int{9, 8, 7})
	x, x64 := randSlice(rng, 2*g.inVox(), 1)
	w, w64 := randSlice(rng, 3*g.kdim(), 1)
	want := naiveConv(x64, w64, nil, g)
	for rpc := 1; rpc <= g.wideRows(); rpc++ {
		e := newEngine()
		e.colTarget, e.minCols = 1, rpc*g.in[0]
		if got := g.wideRowsPerChunk(e.colTarget, e.minCols); got != rpc {
			t.Fatalf("wideRowsPerChunk = %d, want %d", got, rpc)
		}
		got := make([]float32, len(want))
		e.convForward(got, x, w, nil, g, false)
		if err := maxRelErr(got, want); err > 1e-6 {
			t.Fatalf("rows per chunk %d: max relative error %.3g", rpc, err)
		}
	}
}

// TestKernelsIndependentOfChunkingAndWorkers runs the kernels with one row
// per chunk and 1, 2 or 3 workers: results must equal the reference, and the
// weight gradient must be bit-identical whatever the worker count.
func TestKernelsIndependentOfChunkingAndWorkers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	g := newConvGeom(3, 3, 4, 3, 1, [3]int{8, 7, 9})
	x, x64 := randSlice(rng, g.n*g.inC*g.inVox(), 1)
	w, w64 := randSlice(rng, g.outC*g.kdim(), 0.5)
	r, r64 := randSlice(rng, g.n*g.outC*g.outVox(), 1)
	wantY := naiveConv(x64, w64, nil, g)
	wantDX, wantDW, _ := naiveConvBackward(x64, w64, r64, g)
	var first []float32
	for _, workers := range []int{1, 2, 3} {
		e := newEngine()
		e.workers, e.colTarget, e.minCols = workers, 1, 1
		y := make([]float32, len(wantY))
		e.convForward(y, x, w, nil, g, false)
		dx := make([]float32, len(x))
		e.convInputGrad(dx, r, w, g)
		dw := make([]float32, len(w))
		e.convWeightGrad(dw, x, r, g)
		for _, c := range []struct {
			name string
			got  []float32
			want []float64
		}{{"y", y, wantY}, {"dx", dx, wantDX}, {"dw", dw, wantDW}} {
			if err := maxRelErr(c.got, c.want); err > 2e-6 {
				t.Errorf("workers %d: %s max relative error %.3g", workers, c.name, err)
			}
		}
		if first == nil {
			first = dw
			continue
		}
		for i := range dw {
			if math.Float32bits(dw[i]) != math.Float32bits(first[i]) {
				t.Fatalf("workers %d: dw[%d] = %x, with 1 worker %x", workers, i, math.Float32bits(dw[i]), math.Float32bits(first[i]))
			}
		}
	}
}
