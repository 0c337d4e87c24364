package measure

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhpnet/node/volume"
)

func grid(size [3]int, spacing [3]float64) *volume.LabelVolume {
	g := volume.Geometry{
		Size:      size,
		Origin:    [3]float64{-150, -120, 800},
		Spacing:   spacing,
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
	l, _ := volume.NewLabelVolume(g)
	return l
}

// paintEllipsoid labels the voxels whose centres lie inside the ellipsoid
// centred at c (patient mm) with semi-axes r (mm) along the rotated in-plane
// axes (angle theta) and z, and returns how many it painted.
func paintEllipsoid(l *volume.LabelVolume, c, r [3]float64, theta float64, label uint8) int {
	n := 0
	ct, st := math.Cos(theta), math.Sin(theta)
	for z := 0; z < l.Size[2]; z++ {
		for y := 0; y < l.Size[1]; y++ {
			for x := 0; x < l.Size[0]; x++ {
				p := l.VoxelToPatient([3]float64{float64(x), float64(y), float64(z)})
				dx, dy, dz := p[0]-c[0], p[1]-c[1], p[2]-c[2]
				u, v := ct*dx+st*dy, -st*dx+ct*dy
				if u*u/(r[0]*r[0])+v*v/(r[1]*r[1])+dz*dz/(r[2]*r[2]) <= 1 {
					l.Labels[l.Index(x, y, z)] = label
					n++
				}
			}
		}
	}
	return n
}

func TestTumorsEllipsoids(t *testing.T) {
	sp := [3]float64{0.7, 0.7, 2.5}
	tests := []struct {
		name         string
		r            [3]float64
		theta        float64
		wantDiameter float64
	}{
		{"sphere r10", [3]float64{10, 10, 10}, 0, 20},
		{"ellipsoid 15x6x8", [3]float64{15, 6, 8}, 0, 30},
		{"diagonal ellipsoid 12x5x7", [3]float64{12, 5, 7}, math.Pi / 4, 24},
		{"small sphere r3", [3]float64{3, 3, 3}, 0, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := grid([3]int{60, 60, 14}, sp)
			// The centre sits between voxel centres so nothing is symmetric
			// by accident.
			c := l.VoxelToPatient([3]float64{29.3, 30.6, 6.2})
			l.Labels[0] = 1 // a liver voxel, to see the label filter
			n := paintEllipsoid(l, c, tc.r, tc.theta, 2)
			tumors, err := Tumors(l, 2, volume.Conn6)
			if err != nil {
				t.Fatal(err)
			}
			if len(tumors) != 1 {
				t.Fatalf("%d tumors, want 1", len(tumors))
			}
			tm := tumors[0]
			if tm.Voxels != n {
				t.Fatalf("voxels %d, want %d", tm.Voxels, n)
			}
			exact := 4.0 / 3 * math.Pi * tc.r[0] * tc.r[1] * tc.r[2] / 1000
			if got := tm.VolumeML; math.Abs(got-float64(n)*0.7*0.7*2.5/1000) > 1e-9 || math.Abs(got-exact) > 0.12*exact {
				t.Fatalf("volume %.3f mL; %d voxels; ellipsoid %.3f mL", got, n, exact)
			}
			// Boundary-edge midpoints measure the diameter within about a
			// voxel (0.7 mm) of the continuous ellipsoid's.
			if d := tm.LongestAxialDiameterMM; math.Abs(d-tc.wantDiameter) > 1.0 {
				t.Fatalf("diameter %.2f mm, want %.1f ± 1", d, tc.wantDiameter)
			}
			t.Logf("%d voxels, %.3f mL (ellipsoid %.3f), diameter %.2f mm on slice %d", n, tm.VolumeML, exact, tm.LongestAxialDiameterMM, tm.DiameterSlice)
			ends := tm.DiameterEndsLPS
			if d := math.Hypot(ends[0][0]-ends[1][0], ends[0][1]-ends[1][1]); math.Abs(d-tm.LongestAxialDiameterMM) > 1e-9 || ends[0][2] != ends[1][2] {
				t.Fatalf("diameter ends %v do not span %.3f mm on one slice", ends, tm.LongestAxialDiameterMM)
			}
			// The centroid of a voxelised ellipsoid is within a fraction of a
			// voxel of its centre.
			for a := 0; a < 3; a++ {
				if math.Abs(tm.CentroidLPS[a]-c[a]) > 0.3*sp[a] {
					t.Fatalf("centroid %v, centre %v", tm.CentroidLPS, c)
				}
			}
			// Slice range: the slices holding a painted voxel.
			wantFirst, wantLast := -1, -1
			for z := 0; z < l.Size[2]; z++ {
				for i := z * 3600; i < (z+1)*3600; i++ {
					if l.Labels[i] == 2 {
						if wantFirst < 0 {
							wantFirst = z
						}
						wantLast = z
						break
					}
				}
			}
			if tm.FirstSlice != wantFirst || tm.LastSlice != wantLast {
				t.Fatalf("slices %d..%d, want %d..%d", tm.FirstSlice, tm.LastSlice, wantFirst, wantLast)
			}
		})
	}
}

func TestMeasureLiverAndSeveralTumors(t *testing.T) {
	l := grid([3]int{80, 70, 20}, [3]float64{0.8, 0.8, 2})
	// Liver: a block of 60×50×16 voxels = 48000·1.28 mm³ = 61.44 mL.
	for z := 2; z < 18; z++ {
		for y := 10; y < 60; y++ {
			for x := 10; x < 70; x++ {
				l.Labels[l.Index(x, y, z)] = 1
			}
		}
	}
	a := paintEllipsoid(l, l.VoxelToPatient([3]float64{25, 30, 8}), [3]float64{6, 6, 6}, 0, 2)
	b := paintEllipsoid(l, l.VoxelToPatient([3]float64{55, 40, 12}), [3]float64{4, 4, 4}, 0, 2)
	r, err := Measure(l, Labels{})
	if err != nil {
		t.Fatal(err)
	}
	vox := 0.8 * 0.8 * 2 / 1000
	if math.Abs(r.Liver.VolumeML-48000*vox) > 1e-9 || math.Abs(r.Liver.TumorML-float64(a+b)*vox) > 1e-9 {
		t.Fatalf("liver %+v, want 61.44 mL with %.3f mL tumor", r.Liver, float64(a+b)*vox)
	}
	if math.Abs(r.Liver.ParenchymaML+r.Liver.TumorML-r.Liver.VolumeML) > 1e-9 {
		t.Fatalf("parenchyma + tumor != liver: %+v", r.Liver)
	}
	if len(r.Tumors) != 2 || r.Tumors[0].Voxels != a || r.Tumors[1].Voxels != b {
		t.Fatalf("tumors %+v, want voxel counts %d then %d (scan order)", r.Tumors, a, b)
	}
	if _, err := Measure(l, Labels{Liver: 3, Tumor: 3}); !errors.Is(err, ErrInput) {
		t.Fatalf("same labels: err %v, want ErrInput", err)
	}
}

// TestDiameterAgainstAllPairs checks the hull-based diameter against the
// exhaustive maximum over all pairs of boundary points.
func TestDiameterAgainstAllPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 50; trial++ {
		n := 3 + rng.IntN(200)
		p := make([][2]float64, n)
		for i := range p {
			p[i] = [2]float64{float64(rng.IntN(40)) + 0.5*float64(rng.IntN(2)), float64(rng.IntN(30))}
		}
		sx, sy := 0.5+rng.Float64(), 0.5+rng.Float64()
		want := 0.0
		for i := range p {
			for j := range p {
				want = math.Max(want, math.Hypot((p[i][0]-p[j][0])*sx, (p[i][1]-p[j][1])*sy))
			}
		}
		got, _, _ := diameter(append([][2]float64(nil), p...), sx, sy)
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("trial %d: hull diameter %.6f, all pairs %.6f", trial, got, want)
		}
	}
}
