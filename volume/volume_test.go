package volume

import (
	"errors"
	"math"
	"testing"
)

func nearVec(a, b [3]float64, tol float64) bool {
	for i := range 3 {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestVoxelPatientTransforms checks voxel -> patient (LPS) against values
// worked out by hand, and the round trip back.
func TestVoxelPatientTransforms(t *testing.T) {
	c, s := math.Cos(math.Pi/6), math.Sin(math.Pi/6)
	tests := []struct {
		name  string
		g     Geometry
		voxel [3]float64
		want  [3]float64
	}{
		{
			name:  "axial, identity directions",
			g:     Geometry{Size: [3]int{4, 3, 5}, Origin: [3]float64{-10, -20, 5}, Spacing: [3]float64{0.5, 0.75, 2}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}},
			voxel: [3]float64{1, 2, 3},
			want:  [3]float64{-9.5, -18.5, 11},
		},
		{
			name: "IRCAD 1.1 last slice (origin 0, 1.6 mm)",
			g: Geometry{Size: [3]int{512, 512, 129}, Spacing: [3]float64{0.57, 0.57, 1.6},
				Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}},
			voxel: [3]float64{511, 511, 128},
			want:  [3]float64{291.27, 291.27, 204.8},
		},
		{
			name: "Enhanced CT CT0012: row -x, normal -z",
			g: Geometry{Size: [3]int{512, 512, 2}, Origin: [3]float64{99.5, -301.5, -149}, Spacing: [3]float64{0.388672, 0.388672, 10},
				Direction: [3][3]float64{{-1, 0, 0}, {0, 1, 0}, {0, 0, -1}}},
			voxel: [3]float64{10, 20, 1},
			want:  [3]float64{99.5 - 3.88672, -301.5 + 7.77344, -159},
		},
		{
			name: "oblique: rows rotated 30° about the patient z axis",
			g: Geometry{Size: [3]int{8, 8, 8}, Origin: [3]float64{1, 2, 3}, Spacing: [3]float64{2, 3, 4},
				Direction: [3][3]float64{{c, s, 0}, {-s, c, 0}, {0, 0, 1}}},
			voxel: [3]float64{1, 1, 0.5},
			want:  [3]float64{1 + 2*c - 3*s, 2 + 2*s + 3*c, 5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.g.VoxelToPatient(tc.voxel)
			if !nearVec(p, tc.want, 1e-9) {
				t.Errorf("VoxelToPatient(%v) = %v, want %v", tc.voxel, p, tc.want)
			}
			if v := tc.g.PatientToVoxel(p); !nearVec(v, tc.voxel, 1e-9) {
				t.Errorf("PatientToVoxel(%v) = %v, want %v", p, v, tc.voxel)
			}
			z := int(tc.voxel[2])
			if got, want := tc.g.SlicePosition(z), tc.g.VoxelToPatient([3]float64{0, 0, float64(z)}); got != want {
				t.Errorf("SlicePosition(%d) = %v, want %v", z, got, want)
			}
		})
	}
}

func TestGeometryIndexAndValidate(t *testing.T) {
	g := Geometry{Size: [3]int{4, 3, 2}, Spacing: [3]float64{1, 1, 1}}
	if got := g.Index(3, 2, 1); got != 3+4*(2+3*1) {
		t.Errorf("Index = %d", got)
	}
	if !g.Contains(3, 2, 1) || g.Contains(4, 0, 0) || g.Contains(0, -1, 0) {
		t.Error("Contains is wrong at the border")
	}
	if g.Len() != 24 || math.Abs(g.VoxelVolumeML()-0.001) > 1e-15 {
		t.Errorf("Len %d, VoxelVolumeML %v", g.Len(), g.VoxelVolumeML())
	}
	bad := []Geometry{
		{Size: [3]int{0, 1, 1}, Spacing: [3]float64{1, 1, 1}},
		{Size: [3]int{1, 1, 1}, Spacing: [3]float64{1, math.NaN(), 1}},
		{Size: [3]int{1 << 11, 1 << 11, 1 << 11}, Spacing: [3]float64{1, 1, 1}},
	}
	for _, b := range bad {
		if err := b.Validate(); !errors.Is(err, ErrGeometry) {
			t.Errorf("Validate(%v) = %v, want ErrGeometry", b, err)
		}
	}
}
