package volume

import (
	"errors"
	"math"
	"testing"
)

func TestResampledGeometryKeepsPatientPositions(t *testing.T) {
	g := testGeometry([3]int{512, 512, 119}, [3]float64{0.703125, 0.703125, 1.6})
	r, err := ResampledGeometry(g, [3]float64{2.5, 2.5, 2.5})
	if err != nil {
		t.Fatal(err)
	}
	// round(512·0.703125/2.5) = round(144) = 144, round(119·1.6/2.5) = round(76.16) = 76.
	if r.Size != [3]int{144, 144, 76} {
		t.Fatalf("size %v, want [144 144 76]", r.Size)
	}
	if r.Direction != g.Direction {
		t.Fatalf("direction changed: %v", r.Direction)
	}
	// The outer face of the first voxel stays in place: voxel -0.5 of both
	// grids is the same patient point.
	a := g.VoxelToPatient([3]float64{-0.5, -0.5, -0.5})
	b := r.VoxelToPatient([3]float64{-0.5, -0.5, -0.5})
	if !near3(a, b, 1e-9) {
		t.Fatalf("corner moved: %v vs %v", a, b)
	}
	// Downsampling by exactly 2: each coarse voxel centre is midway
	// between fine voxels 2i and 2i+1.
	h, _ := ResampledGeometry(g, [3]float64{1.40625, 1.40625, 3.2})
	for _, i := range [][3]int{{0, 0, 0}, {10, 3, 7}, {255, 255, 58}} {
		pc := h.VoxelToPatient([3]float64{float64(i[0]), float64(i[1]), float64(i[2])})
		pf := g.VoxelToPatient([3]float64{2*float64(i[0]) + 0.5, 2*float64(i[1]) + 0.5, 2*float64(i[2]) + 0.5})
		if !near3(pc, pf, 1e-9) {
			t.Fatalf("coarse voxel %v at %v, fine midpoint at %v", i, pc, pf)
		}
	}
	if _, err := ResampledGeometry(g, [3]float64{0, 1, 1}); !errors.Is(err, ErrGeometry) {
		t.Fatalf("zero spacing: err %v, want ErrGeometry", err)
	}
}

// linearField returns a volume whose value is an affine function of the
// patient position, which linear interpolation must reproduce exactly.
func linearField(g Geometry) func(p [3]float64) float64 {
	return func(p [3]float64) float64 { return 3*p[0] - 2*p[1] + 0.5*p[2] + 7 }
}

func TestResampleLinearFieldExact(t *testing.T) {
	g := testGeometry([3]int{40, 36, 20}, [3]float64{0.8, 0.8, 2})
	field := linearField(g)
	f, _ := NewFloat32Volume(g)
	for z := 0; z < 20; z++ {
		for y := 0; y < 36; y++ {
			for x := 0; x < 40; x++ {
				f.Data[g.Index(x, y, z)] = float32(field(g.VoxelToPatient([3]float64{float64(x), float64(y), float64(z)})))
			}
		}
	}
	for _, tc := range []struct {
		name      string
		spacing   [3]float64
		antialias bool
		tol       float64
	}{
		{"up", [3]float64{0.5, 0.5, 0.7}, false, 1e-3},
		{"down", [3]float64{2.5, 2.5, 2.5}, false, 1e-3},
		{"down-antialias", [3]float64{2.5, 2.5, 2.5}, true, 1e-3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, _ := ResampledGeometry(g, tc.spacing)
			r, err := f.ResampleTo(dst, tc.antialias)
			if err != nil {
				t.Fatal(err)
			}
			// Away from the edges (where values are clamped, and where the
			// widened kernel is cut), the field is reproduced.
			checked := 0
			for z := 0; z < dst.Size[2]; z++ {
				for y := 0; y < dst.Size[1]; y++ {
					for x := 0; x < dst.Size[0]; x++ {
						p := dst.VoxelToPatient([3]float64{float64(x), float64(y), float64(z)})
						v := g.PatientToVoxel(p)
						if v[0] < 3 || v[1] < 3 || v[2] < 2 || v[0] > 36 || v[1] > 32 || v[2] > 17 {
							continue
						}
						checked++
						if got, want := float64(r.At(x, y, z)), field(p); math.Abs(got-want) > tc.tol {
							t.Fatalf("voxel (%d,%d,%d): %g, want %g", x, y, z, got, want)
						}
					}
				}
			}
			if checked < 100 {
				t.Fatalf("only %d voxels checked", checked)
			}
		})
	}
}

func TestResampleAntialiasAverages(t *testing.T) {
	// A checkerboard along x at 1 mm downsampled to 4 mm: linear sampling
	// picks alternating values, the antialiased tent averages them.
	g := isoGeometry([3]int{64, 2, 2})
	f, _ := NewFloat32Volume(g)
	for i := range f.Data {
		if (i%64)%2 == 0 {
			f.Data[i] = 100
		}
	}
	dst, _ := ResampledGeometry(g, [3]float64{4, 1, 1})
	r, err := f.ResampleTo(dst, true)
	if err != nil {
		t.Fatal(err)
	}
	for x := 2; x < 14; x++ {
		if v := r.At(x, 0, 0); math.Abs(float64(v)-50) > 1e-3 {
			t.Fatalf("antialiased voxel %d = %g, want 50", x, v)
		}
	}
}

func TestResampleVolumeAndLabelsRoundTrip(t *testing.T) {
	g := testGeometry([3]int{30, 24, 12}, [3]float64{0.75, 0.75, 1.5})
	v, _ := NewVolume(g, -1000)
	l, _ := NewLabelVolume(g)
	for z := 0; z < 12; z++ {
		for y := 0; y < 24; y++ {
			for x := 0; x < 30; x++ {
				i := g.Index(x, y, z)
				v.HU[i] = int16(10 * x)
				l.Labels[i] = uint8((x / 2) % 3)
			}
		}
	}
	c, err := v.Resample([3]float64{1.5, 1.5, 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != [3]int{15, 12, 12} {
		t.Fatalf("coarse size %v", c.Size)
	}
	// Coarse voxel x averages fine voxels 2x and 2x+1 (HU 20x and 20x+10)
	// away from the edges.
	if got := c.At(5, 6, 6); math.Abs(float64(got)-105) > 1e-3 {
		t.Fatalf("coarse HU %g, want 105", got)
	}
	// Labels: coarse voxel x sits between fine voxels 2x and 2x+1, which
	// share the label (x/2)%3 of fine index 2x; nearest neighbour picks
	// 2x+1 (rounding half up), same label.
	cl, err := l.Resample([3]float64{1.5, 1.5, 1.5})
	if err != nil {
		t.Fatal(err)
	}
	for x := 0; x < 15; x++ {
		if got, want := cl.At(x, 3, 4), uint8(x%3); got != want {
			t.Fatalf("coarse label at x=%d: %d, want %d", x, got, want)
		}
	}
	// Back onto the original grid: every fine voxel gets its own label.
	back, err := cl.ResampleTo(g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Labels {
		if back.Labels[i] != l.Labels[i] {
			t.Fatalf("round trip voxel %d: %d, want %d", i, back.Labels[i], l.Labels[i])
		}
	}
	// A probability map back onto a crop of the original grid.
	crop, _ := g.Crop(Box{Min: [3]int{4, 4, 2}, Max: [3]int{20, 20, 10}})
	pc, err := c.ResampleTo(crop, false)
	if err != nil {
		t.Fatal(err)
	}
	// Fine voxel x=10 (HU 100) sits at coarse index 4.75: 0.25·85+0.75·105 = 100.
	if got := pc.At(6, 3, 3); math.Abs(float64(got)-100) > 1e-3 {
		t.Fatalf("back-resampled value %g, want 100", got)
	}
	other := g
	other.Direction = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	if _, err := c.ResampleTo(other, false); !errors.Is(err, ErrGeometry) {
		t.Fatalf("direction mismatch: err %v, want ErrGeometry", err)
	}
}

func BenchmarkResample(b *testing.B) {
	g := Geometry{Size: [3]int{512, 512, 120}, Spacing: [3]float64{0.7, 0.7, 1.6},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, _ := NewVolume(g, 0)
	for i := range v.HU {
		v.HU[i] = int16(i % 1700)
	}
	coarse, _ := v.Resample([3]float64{2.5, 2.5, 2.5})
	b.Run("CT-to-2.5mm", func(b *testing.B) {
		benchLoop(b, g.Len(), func() error { _, err := v.Resample([3]float64{2.5, 2.5, 2.5}); return err })
	})
	b.Run("2.5mm-back-to-CT", func(b *testing.B) {
		benchLoop(b, g.Len(), func() error { _, err := coarse.ResampleTo(g, false); return err })
	})
	labels := coarse.Threshold(800, 1)
	b.Run("labels-2.5mm-back-to-CT", func(b *testing.B) {
		benchLoop(b, g.Len(), func() error { _, err := labels.ResampleTo(g); return err })
	})
}
