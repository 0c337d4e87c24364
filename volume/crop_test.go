package volume

import (
	"errors"
	"math"
	"testing"
)

// testGeometry returns an oblique, anisotropic grid so geometry errors show.
func testGeometry(size [3]int, spacing [3]float64) Geometry {
	c, s := math.Cos(0.3), math.Sin(0.3)
	return Geometry{
		Size:    size,
		Origin:  [3]float64{-120.5, 33.25, 410},
		Spacing: spacing,
		Direction: [3][3]float64{
			{c, s, 0},
			{-s, c, 0},
			{0, 0, 1},
		},
	}
}

func near3(a, b [3]float64, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func TestCropGeometryAndValues(t *testing.T) {
	g := testGeometry([3]int{7, 5, 4}, [3]float64{0.7, 0.8, 2.5})
	v, err := NewVolume(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.HU {
		v.HU[i] = int16(i)
	}
	b := Box{Min: [3]int{2, 1, 1}, Max: [3]int{6, 4, 3}}
	c, err := v.Crop(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != [3]int{4, 3, 2} {
		t.Fatalf("crop size %v, want [4 3 2]", c.Size)
	}
	for z := 0; z < 2; z++ {
		for y := 0; y < 3; y++ {
			for x := 0; x < 4; x++ {
				if got, want := c.At(x, y, z), v.At(x+2, y+1, z+1); got != want {
					t.Fatalf("crop(%d,%d,%d)=%d, want %d", x, y, z, got, want)
				}
				pc := c.VoxelToPatient([3]float64{float64(x), float64(y), float64(z)})
				po := g.VoxelToPatient([3]float64{float64(x + 2), float64(y + 1), float64(z + 1)})
				if !near3(pc, po, 1e-9) {
					t.Fatalf("voxel (%d,%d,%d): crop at %v, original at %v", x, y, z, pc, po)
				}
			}
		}
	}
	// Paste the crop back into an empty volume.
	vb, _ := NewVolume(g, -1000)
	if err := vb.Paste(c, b.Min); err != nil {
		t.Fatal(err)
	}
	if got, want := vb.At(3, 2, 2), v.At(3, 2, 2); got != want {
		t.Fatalf("pasted HU %d, want %d", got, want)
	}
	if got := vb.At(0, 0, 0); got != -1000 {
		t.Fatalf("voxel outside the paste changed to %d", got)
	}
	// Paste back into an empty label volume.
	lv, _ := NewLabelVolume(g)
	for i := range lv.Labels {
		lv.Labels[i] = uint8(i % 251)
	}
	lc, err := lv.Crop(b)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := NewLabelVolume(g)
	if err := dst.Paste(lc, b.Min); err != nil {
		t.Fatal(err)
	}
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				want := uint8(0)
				if b.Contains(x, y, z) {
					want = lv.At(x, y, z)
				}
				if got := dst.At(x, y, z); got != want {
					t.Fatalf("pasted (%d,%d,%d)=%d, want %d", x, y, z, got, want)
				}
			}
		}
	}
	if bb, ok := dst.BoundingBox(); !ok || bb != b {
		// voxel (2,1,1) has index 2+7*(1+5)=44, non-zero; the box is exact.
		t.Fatalf("bounding box %v %v, want %v", bb, ok, b)
	}
}

func TestCropErrors(t *testing.T) {
	g := testGeometry([3]int{4, 4, 4}, [3]float64{1, 1, 1})
	l, _ := NewLabelVolume(g)
	for _, b := range []Box{{}, {Min: [3]int{0, 0, 0}, Max: [3]int{5, 4, 4}}, {Min: [3]int{-1, 0, 0}, Max: [3]int{2, 2, 2}}} {
		if _, err := l.Crop(b); !errors.Is(err, ErrGeometry) {
			t.Errorf("crop %v: err %v, want ErrGeometry", b, err)
		}
	}
	var nilLabels *LabelVolume
	if _, err := nilLabels.Crop(Box{Max: [3]int{1, 1, 1}}); !errors.Is(err, ErrGeometry) {
		t.Errorf("nil crop: err %v, want ErrGeometry", err)
	}
	if _, err := LabelComponents(nil, Conn6); !errors.Is(err, ErrGeometry) {
		t.Errorf("nil components: err %v, want ErrGeometry", err)
	}
	small, _ := NewLabelVolume(testGeometry([3]int{2, 2, 2}, [3]float64{1, 1, 1}))
	if err := l.Paste(small, [3]int{3, 0, 0}); !errors.Is(err, ErrGeometry) {
		t.Errorf("paste outside: err %v, want ErrGeometry", err)
	}
}

func TestBoxExpandMM(t *testing.T) {
	g := testGeometry([3]int{100, 100, 40}, [3]float64{0.7, 0.7, 2.5})
	b := Box{Min: [3]int{10, 50, 5}, Max: [3]int{20, 60, 30}}
	tests := []struct {
		name   string
		margin float64
		want   Box
	}{
		{"zero", 0, b},
		{"5mm", 5, Box{Min: [3]int{2, 42, 3}, Max: [3]int{28, 68, 32}}},      // ceil(5/0.7)=8, ceil(5/2.5)=2
		{"clipped", 30, Box{Min: [3]int{0, 7, 0}, Max: [3]int{63, 100, 40}}}, // ceil(30/0.7)=43, 12
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.ExpandMM(g, tc.margin); got != tc.want {
				t.Fatalf("ExpandMM(%g) = %v, want %v", tc.margin, got, tc.want)
			}
		})
	}
	if got := (Box{}).ExpandMM(g, 5); !got.Empty() {
		t.Fatalf("empty box expanded to %v", got)
	}
}
