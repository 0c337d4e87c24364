package segmentation

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestTransformWarp(t *testing.T) {
	tr := identity()
	var w [3][3][3][3]float64
	for i := range w {
		for j := range w[i] {
			for k := range w[i][j] {
				w[i][j][k] = [3]float64{0.5, -1, 0.25}
			}
		}
	}
	tr.warp, tr.half = &w, 10
	for _, p := range [][3]float64{{0, 0, 0}, {-10, 3, 7}, {10, 10, -10}, {25, 0, 0}} {
		x, y, z := tr.apply(p[0], p[1], p[2])
		if math.Abs(x-p[0]-0.5) > 1e-12 || math.Abs(y-p[1]+1) > 1e-12 || math.Abs(z-p[2]-0.25) > 1e-12 {
			t.Errorf("constant warp at %v gave (%v %v %v)", p, x, y, z)
		}
	}
	// a random warp is continuous and bounded by its amplitude
	rt := identity().withWarp(rand.New(rand.NewPCG(1, 2)), 2, 10)
	px, py, pz := rt.apply(-10, -10, -10)
	for s := -10.0; s <= 10; s += 0.25 {
		x, y, z := rt.apply(s, s, s)
		if math.Abs(x-s) > 2 || math.Abs(y-s) > 2 || math.Abs(z-s) > 1 {
			t.Fatalf("displacement at %v beyond amplitude: (%v %v %v)", s, x-s, y-s, z-s)
		}
		if math.Abs(x-px) > 1.5 || math.Abs(y-py) > 1.5 || math.Abs(z-pz) > 1.5 {
			t.Fatalf("jump at %v", s)
		}
		px, py, pz = x, y, z
	}
}
