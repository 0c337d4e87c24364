package dicom

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/volume"
)

// TestIRCADMasks checks the voxel counts of README-ct.md for every mask
// folder, that each lands on the CT grid, and that tumors lie in the liver.
func TestIRCADMasks(t *testing.T) {
	tests := []struct {
		patient string
		liver   int
		tumors  map[string]int
	}{
		{"3Dircadb1.1", 2865131, map[string]int{
			"livertumor01": 162337, "livertumor02": 14464, "livertumor03": 7192, "livertumor04": 4859,
			"livertumor05": 19426, "livertumor06": 766, "livertumor07": 5224,
		}},
		{"3Dircadb1.17", 2106497, map[string]int{"livertumor1": 96961, "livertumor2": 89029}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.patient, func(t *testing.T) {
			root := testdata.CT(t, "ircadb/"+tc.patient)
			ct, err := ReadSeries(ctx, filepath.Join(root, "PATIENT_DICOM"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			masks := filepath.Join(root, "MASKS_DICOM")
			liver, err := ReadMask(ctx, filepath.Join(masks, "liver"), ct.Geometry)
			if err != nil {
				t.Fatal(err)
			}
			if got := liver.Count(1); got != tc.liver {
				t.Errorf("liver: %d voxels, want %d", got, tc.liver)
			}
			union := 0
			for name, want := range tc.tumors {
				m, err := ReadMask(ctx, filepath.Join(masks, name), ct.Geometry)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Count(1); got != want {
					t.Errorf("%s: %d voxels, want %d", name, got, want)
				}
				outside := 0
				for i, v := range m.Labels {
					if v != 0 && liver.Labels[i] == 0 {
						outside++
					}
				}
				if outside != 0 {
					t.Errorf("%s: %d voxels outside the liver, want 0", name, outside)
				}
				union += want
			}
			all, err := ReadIRCADMasks(ctx, masks, ct.Geometry)
			if err != nil {
				t.Fatal(err)
			}
			if all.Geometry != ct.Geometry {
				t.Errorf("label geometry %+v differs from the CT's", all.Geometry)
			}
			if got := all.Count(LabelTumor); got != union {
				t.Errorf("tumor label: %d voxels, want %d (sum of the folders, which do not overlap)", got, union)
			}
			if got := all.Count(LabelLiver) + all.Count(LabelTumor); got != tc.liver {
				t.Errorf("liver incl. tumor: %d voxels, want %d", got, tc.liver)
			}
		})
	}
}

// TestReadMaskOffGrid: a mask whose slices do not sit on the CT grid is
// refused with the slice named.
func TestReadMaskOffGrid(t *testing.T) {
	dir := t.TempDir()
	writeSlices(t, dir, synthSeries("2.25.30", steps(1, 2, 3), func(i int, s *synthSlice) {
		s.BitsAllocated, s.BitsStored, s.HighBit, s.PixelRep, s.Intercept = 8, 8, 7, 0, 0
		for j := range s.Stored {
			s.Stored[j] = 255 * (j % 2)
		}
	}))
	ct := volume.Geometry{Size: [3]int{4, 3, 10}, Origin: [3]float64{-10, -20, 0}, Spacing: [3]float64{0.75, 0.5, 2},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	_, err := ReadMask(context.Background(), dir, ct)
	var e ErrMixedGeometry
	if !errors.As(err, &e) || e.SOPInstanceUID != "2.25.30.1" {
		t.Fatalf("err = %v, want ErrMixedGeometry naming 2.25.30.1", err)
	}
	// The same mask on a grid that starts at z=1 maps to slices 0..2.
	ct.Origin[2] = 1
	m, err := ReadMask(context.Background(), dir, ct)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Count(1); got != 3*6 {
		t.Errorf("%d foreground voxels, want 18", got)
	}
	if m.At(1, 0, 2) != 1 || m.At(0, 0, 2) != 0 || m.At(1, 0, 3) != 0 {
		t.Errorf("labels misplaced")
	}
}
