package hessian

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestEigenvaluesAgainstGonum compares the closed form with gonum's
// iterative symmetric eigensolver on random and degenerate matrices.
func TestEigenvaluesAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	cases := [][6]float64{
		{1, 1, 1, 0, 0, 0},    // identity: triple eigenvalue
		{2, 2, 5, 0, 0, 0},    // double eigenvalue
		{0, 0, 0, 0, 0, 0},    // zero
		{1, 2, 3, 1e-9, 0, 0}, // nearly diagonal
		{-4, -4, -1, 1, 0, 0}, // negative definite
		{1e4, 1e4, 1e4, 1, 1, 1},
	}
	for i := 0; i < 2000; i++ {
		var c [6]float64
		for k := range c {
			c[k] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(5)-2))
		}
		cases = append(cases, c)
	}
	for _, c := range cases {
		got := Eigenvalues(c[0], c[1], c[2], c[3], c[4], c[5])
		s := mat.NewSymDense(3, []float64{c[0], c[3], c[4], c[3], c[1], c[5], c[4], c[5], c[2]})
		var es mat.EigenSym
		if !es.Factorize(s, false) {
			t.Fatalf("gonum failed on %v", c)
		}
		want := es.Values(nil)
		sort.Float64s(want)
		scale := math.Max(1e-300, math.Max(math.Abs(want[0]), math.Abs(want[2])))
		for k := 0; k < 3; k++ {
			if math.Abs(got[k]-want[k]) > 1e-9*scale {
				t.Fatalf("matrix %v: eigenvalues %v, gonum %v", c, got, want)
			}
		}
		if !(got[0] <= got[1] && got[1] <= got[2]) {
			t.Fatalf("matrix %v: eigenvalues %v not ascending", c, got)
		}
	}
}

func TestBlobMeasure(t *testing.T) {
	tests := []struct {
		name             string
		h                [6]float64
		wantDark, wantBr float64
	}{
		{"sphere dark", [6]float64{3, 3, 3, 0, 0, 0}, 3, 0},
		{"sphere bright", [6]float64{-3, -3, -3, 0, 0, 0}, 0, 3},
		{"ellipsoid", [6]float64{4, 2, 1, 0, 0, 0}, 0.25, 0}, // |λ3|²/|λ1| = 1/4
		{"tube", [6]float64{4, 4, 0, 0, 0, 0}, 0, 0},
		{"saddle", [6]float64{4, -4, 1, 0, 0, 0}, 0, 0},
		// A rotated ellipsoid: eigenvalues 5, 1, 2 (xy block [[3,2],[2,3]]).
		{"rotated", [6]float64{3, 3, 2, 2, 0, 0}, 0.2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, b := BlobMeasure(tc.h[0], tc.h[1], tc.h[2], tc.h[3], tc.h[4], tc.h[5])
			if math.Abs(d-tc.wantDark) > 1e-12 || math.Abs(b-tc.wantBr) > 1e-12 {
				t.Fatalf("dark %g bright %g, want %g and %g", d, b, tc.wantDark, tc.wantBr)
			}
		})
	}
}

func TestEnhanceFloat32MatchesEnhance(t *testing.T) {
	size, sp := [3]int{40, 36, 20}, [3]float64{0.9, 0.9, 2}
	c := centre(size, sp)
	v := phantom(size, sp, gaussianBlob(c, 5, -90, 70))
	f, err := v.ToFloat32()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{SigmasMM: []float64{3, 6}}
	a, err := Enhance(context.Background(), v, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EnhanceFloat32(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Response.Data {
		if a.Response.Data[i] != b.Response.Data[i] || a.Scale[i] != b.Scale[i] {
			t.Fatalf("voxel %d: %g (scale %d) vs %g (scale %d)", i, a.Response.Data[i], a.Scale[i], b.Response.Data[i], b.Scale[i])
		}
	}
	if maxOf(a.Dark.Data) < 5 {
		t.Fatalf("dark response peak %g HU, expected a clear blob", maxOf(a.Dark.Data))
	}
}
