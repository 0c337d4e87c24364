package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhpnet/node/volume"
)

func mask(size [3]int, spacing [3]float64) *volume.LabelVolume {
	g := volume.Geometry{Size: size, Origin: [3]float64{5, -7, 100}, Spacing: spacing,
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	l, _ := volume.NewLabelVolume(g)
	return l
}

func fill(l *volume.LabelVolume, lo, hi [3]int, v uint8) {
	for z := lo[2]; z < hi[2]; z++ {
		for y := lo[1]; y < hi[1]; y++ {
			for x := lo[0]; x < hi[0]; x++ {
				l.Labels[l.Index(x, y, z)] = v
			}
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name           string
		predLo, predHi [3]int
		wantDice       float64
		wantVolErr     float64
	}{
		{"shifted by 2", [3]int{4, 2, 2}, [3]int{14, 12, 12}, 0.8, 0},           // overlap 8·10·10
		{"taller by 2", [3]int{2, 2, 2}, [3]int{12, 12, 14}, 2000.0 / 2200, 20}, // 1000 ⊂ 1200
		{"disjoint", [3]int{14, 14, 14}, [3]int{16, 16, 16}, 0, -99.2},
		{"identical", [3]int{2, 2, 2}, [3]int{12, 12, 12}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			truth, pred := mask([3]int{20, 20, 20}, [3]float64{0.8, 0.8, 2}), mask([3]int{20, 20, 20}, [3]float64{0.8, 0.8, 2})
			fill(truth, [3]int{2, 2, 2}, [3]int{12, 12, 12}, 2)
			fill(pred, tc.predLo, tc.predHi, 1)
			o, err := Compare(truth, pred)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(o.Dice-tc.wantDice) > 1e-12 || math.Abs(o.VolumeErrorPercent-tc.wantVolErr) > 1e-9 {
				t.Fatalf("Dice %.6f volume error %.3f%%, want %.6f and %.3f%%", o.Dice, o.VolumeErrorPercent, tc.wantDice, tc.wantVolErr)
			}
			if math.Abs(o.TruthML-1000*0.8*0.8*2/1000) > 1e-12 {
				t.Fatalf("truth volume %.6f mL, want 1.28", o.TruthML)
			}
		})
	}
	a, b := mask([3]int{4, 4, 4}, [3]float64{1, 1, 1}), mask([3]int{4, 4, 4}, [3]float64{1, 1, 1})
	if d, _ := Dice(a, b); d != 1 {
		t.Fatalf("Dice of two empty masks %g, want 1", d)
	}
	c := mask([3]int{4, 4, 5}, [3]float64{1, 1, 1})
	if _, err := Compare(a, c); !errors.Is(err, ErrGridMismatch) {
		t.Fatalf("size mismatch: err %v, want ErrGridMismatch", err)
	}
}

func TestSurfaceDistanceHandComputed(t *testing.T) {
	// A 10³ cube and the same cube shifted by one voxel (0.5 mm) along x.
	// Truth surface: 488 voxels; its x=0 face (100) and the 8×8 interior of
	// its x=9 face (64) lie 0.5 mm from the other surface, the other 324 on
	// it; the same by symmetry for the prediction. Mean = 164·0.5·2/976,
	// both directed 95th percentiles and the maximum are 0.5 mm.
	truth, pred := mask([3]int{16, 14, 14}, [3]float64{0.5, 1, 1}), mask([3]int{16, 14, 14}, [3]float64{0.5, 1, 1})
	fill(truth, [3]int{2, 2, 2}, [3]int{12, 12, 12}, 1)
	fill(pred, [3]int{3, 2, 2}, [3]int{13, 12, 12}, 1)
	s, err := SurfaceDistance(truth, pred)
	if err != nil {
		t.Fatal(err)
	}
	if s.TruthSurfaceVoxels != 488 || s.PredSurfaceVoxels != 488 {
		t.Fatalf("surface voxels %d, %d; want 488, 488", s.TruthSurfaceVoxels, s.PredSurfaceVoxels)
	}
	if want := 164.0 / 976; math.Abs(s.MeanMM-want) > 1e-6 || s.P95MM != 0.5 || s.MaxMM != 0.5 {
		t.Fatalf("surface %+v, want mean %.6f, p95 0.5, max 0.5", s, want)
	}
	empty := mask([3]int{16, 14, 14}, [3]float64{0.5, 1, 1})
	if s, _ := SurfaceDistance(truth, empty); !math.IsInf(s.MeanMM, 1) {
		t.Fatalf("against an empty mask: %+v, want +Inf", s)
	}
}

// TestSurfaceDistanceAgainstBruteForce checks the distance-transform
// figures against exhaustive point-to-point distances.
func TestSurfaceDistanceAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	sp := [3]float64{0.7, 0.9, 2.5}
	truth, pred := mask([3]int{18, 16, 9}, sp), mask([3]int{18, 16, 9}, sp)
	blob := func(l *volume.LabelVolume, cx, cy, cz, r float64) {
		for z := 0; z < 9; z++ {
			for y := 0; y < 16; y++ {
				for x := 0; x < 18; x++ {
					dx, dy, dz := (float64(x)-cx)*sp[0], (float64(y)-cy)*sp[1], (float64(z)-cz)*sp[2]
					if dx*dx+dy*dy+dz*dz <= r*r*(0.8+0.4*rng.Float64()) {
						l.Labels[l.Index(x, y, z)] = 1
					}
				}
			}
		}
	}
	blob(truth, 8, 8, 4, 5)
	blob(pred, 10, 7, 5, 4.5)
	s, err := SurfaceDistance(truth, pred)
	if err != nil {
		t.Fatal(err)
	}
	pts := func(l *volume.LabelVolume) [][3]float64 {
		var p [][3]float64
		for z := 0; z < 9; z++ {
			for y := 0; y < 16; y++ {
				for x := 0; x < 18; x++ {
					if l.At(x, y, z) == 0 {
						continue
					}
					surf := false
					for _, d := range [6][3]int{{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}} {
						X, Y, Z := x+d[0], y+d[1], z+d[2]
						if !l.Contains(X, Y, Z) || l.At(X, Y, Z) == 0 {
							surf = true
						}
					}
					if surf {
						p = append(p, [3]float64{float64(x) * sp[0], float64(y) * sp[1], float64(z) * sp[2]})
					}
				}
			}
		}
		return p
	}
	directed := func(a, b [][3]float64) []float64 {
		d := make([]float64, len(a))
		for i, p := range a {
			best := math.Inf(1)
			for _, q := range b {
				best = math.Min(best, math.Sqrt((p[0]-q[0])*(p[0]-q[0])+(p[1]-q[1])*(p[1]-q[1])+(p[2]-q[2])*(p[2]-q[2])))
			}
			d[i] = best
		}
		return d
	}
	ta, pa := pts(truth), pts(pred)
	dtp, dpt := directed(ta, pa), directed(pa, ta)
	sum, mx := 0.0, 0.0
	for _, d := range append(append([]float64(nil), dtp...), dpt...) {
		sum += d
		mx = math.Max(mx, d)
	}
	mean := sum / float64(len(dtp)+len(dpt))
	p95 := math.Max(Percentile(dtp, 95), Percentile(dpt, 95))
	if math.Abs(s.MeanMM-mean) > 1e-4 || math.Abs(s.P95MM-p95) > 1e-4 || math.Abs(s.MaxMM-mx) > 1e-4 {
		t.Fatalf("EDT %+v; brute force mean %.5f p95 %.5f max %.5f", s, mean, p95, mx)
	}
	t.Logf("mean %.4f mm, p95 %.4f mm, max %.4f mm over %d+%d surface voxels", s.MeanMM, s.P95MM, s.MaxMM, len(ta), len(pa))
}

func TestPercentileLikeNumpy(t *testing.T) {
	// numpy.percentile([1, 2, 3, 4, 10], 95) = 8.8; [5] → 5.
	if got := Percentile([]float64{4, 1, 10, 3, 2}, 95); math.Abs(got-8.8) > 1e-12 {
		t.Fatalf("percentile %g, want 8.8", got)
	}
	if got := Percentile([]float64{5}, 95); got != 5 {
		t.Fatalf("percentile %g, want 5", got)
	}
}

func TestMatchTumors(t *testing.T) {
	truth, pred := mask([3]int{20, 20, 20}, [3]float64{1, 1, 1}), mask([3]int{20, 20, 20}, [3]float64{1, 1, 1})
	fill(truth, [3]int{2, 2, 2}, [3]int{5, 5, 5}, 1)       // A: 27 voxels, ID 1
	fill(truth, [3]int{12, 12, 12}, [3]int{14, 14, 14}, 1) // B: 8 voxels, ID 2
	truth.Labels[truth.Index(10, 10, 16)] = 1              // C: 1 voxel, ID 3
	fill(pred, [3]int{3, 2, 2}, [3]int{6, 3, 5}, 1)        // P1: 9 voxels, 6 on A (ID 1)
	fill(pred, [3]int{15, 2, 2}, [3]int{18, 3, 3}, 1)      // P3: 3 voxels, false positive (ID 2)
	fill(pred, [3]int{2, 4, 2}, [3]int{5, 5, 5}, 1)        // P2: 9 voxels, all on A (ID 3)
	// A ring around C on its slice: no overlap, centroid inside C (ID 4).
	fill(pred, [3]int{9, 9, 16}, [3]int{12, 12, 17}, 1)
	pred.Labels[pred.Index(10, 10, 16)] = 0
	d, err := MatchTumors(truth, pred, volume.Conn6)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tumors) != 3 || len(d.Predicted) != 4 {
		t.Fatalf("%d truth, %d predicted components; want 3, 4", len(d.Tumors), len(d.Predicted))
	}
	a, b, c := d.Tumors[0], d.Tumors[1], d.Tumors[2]
	// A: overlap 6+9 = 15 with P1 ∪ P2 (18 voxels): Dice 30/45.
	if a.Voxels != 27 || !a.Hit || math.Abs(a.Dice-30.0/45) > 1e-12 || len(a.Predicted) != 2 || a.Predicted[0] != 1 || a.Predicted[1] != 3 {
		t.Fatalf("tumor A %+v, want 27 voxels, hit, Dice 0.6667, predicted [1 3]", a)
	}
	// A spans voxels 2..4: centroid voxel (3,3,3), origin (5,−7,100), 1 mm.
	if a.CentroidLPS != [3]float64{8, -4, 103} {
		t.Fatalf("tumor A centroid %v, want [8 -4 103]", a.CentroidLPS)
	}
	if b.Hit || b.Dice != 0 || len(b.Predicted) != 0 {
		t.Fatalf("tumor B %+v, want a miss", b)
	}
	if !c.Hit || c.Dice != 0 {
		t.Fatalf("tumor C %+v, want a hit by centroid with Dice 0", c)
	}
	if d.Hits != 2 || d.TruePositives != 3 || d.FalsePositives != 1 || math.Abs(d.FalsePositiveML-0.003) > 1e-12 {
		t.Fatalf("detection %+v, want 2 hits, 3 TP, 1 FP of 0.003 mL", d)
	}
	if math.Abs(d.Recall-2.0/3) > 1e-12 || math.Abs(d.Precision-3.0/4) > 1e-12 {
		t.Fatalf("recall %.4f precision %.4f, want 0.6667 and 0.75", d.Recall, d.Precision)
	}
	if d.Predicted[1].VolumeML != 0.003 || len(d.Predicted[1].Truth) != 0 {
		t.Fatalf("false positive %+v", d.Predicted[1])
	}
}
