package seg

import (
	"context"
	"slices"
	"testing"

	dcm "github.com/suyashkumar/dicom"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/volume"
)

// ellipsoidLabels is a synthetic mask for series without ground truth:
// label 1 in an ellipsoid around the grid centre, label 2 in a ball inside
// it on the right (patient left) half.
func ellipsoidLabels(t testing.TB, g volume.Geometry) *volume.LabelVolume {
	t.Helper()
	lv, err := volume.NewLabelVolume(g)
	if err != nil {
		t.Fatal(err)
	}
	nx, ny, nz := float64(g.Size[0]), float64(g.Size[1]), float64(g.Size[2])
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				dx, dy := (float64(x)-0.45*nx)/(0.2*nx), (float64(y)-0.5*ny)/(0.15*ny)
				dz := (float64(z) - 0.5*(nz-1)) / max(0.4*nz, 1)
				tx, ty := (float64(x)-0.5*nx)/(0.05*nx), (float64(y)-0.5*ny)/(0.05*ny)
				switch {
				case tx*tx+ty*ty+dz*dz*4 < 1:
					lv.Labels[g.Index(x, y, z)] = LabelTumor
				case dx*dx+dy*dy+dz*dz < 1:
					lv.Labels[g.Index(x, y, z)] = LabelLiver
				}
			}
		}
	}
	return lv
}

func TestEncodeRealSeries(t *testing.T) {
	tests := []struct {
		name  string
		dir   func(t testing.TB) string
		masks func(t testing.TB) string // IRCAD MASKS_DICOM; nil = synthetic ellipsoid
		// want per segment: voxels and frames (0 = only check consistency).
		wantVoxels, wantFrames [2]int
		wantGeneratedFoR       bool
		ircad11                bool // use the cached IRCAD 1.1 fixture
	}{
		{
			name:       "dcmqi ct-3slice synthetic mask",
			dir:        func(t testing.TB) string { return testdata.Shared(t, "data/dcmqi/ct-3slice") },
			wantFrames: [2]int{3, 1},
		},
		{
			name:    "IRCAD 1.1 liver and 7 tumors",
			ircad11: true,
			// README-ct.md: liver 2,865,131 voxels on slices 27–124, the 7
			// tumors 214,268 voxels on 48–123, all inside the liver.
			wantVoxels:       [2]int{2865131, 214268},
			wantFrames:       [2]int{124 - 27 + 1, 123 - 48 + 1},
			wantGeneratedFoR: true,
		},
		{
			name:  "IRCAD 1.17 liver and 2 tumors",
			dir:   func(t testing.TB) string { return testdata.CT(t, "ircadb/3Dircadb1.17/PATIENT_DICOM") },
			masks: func(t testing.TB) string { return testdata.CT(t, "ircadb/3Dircadb1.17/MASKS_DICOM") },
			// README-ct.md: liver 2,106,497 voxels on 1–113, tumors 185,990 on 78–113.
			wantVoxels:       [2]int{2106497, 185990},
			wantFrames:       [2]int{113 - 1 + 1, 113 - 78 + 1},
			wantGeneratedFoR: true,
		},
		{
			name: "CRLM-CT-1004 synthetic mask",
			dir:  func(t testing.TB) string { return testdata.CT(t, "ct/crlm-ct-1004") },
		},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				s   *dicom.Series
				lv  *volume.LabelVolume
				err error
			)
			if tc.ircad11 {
				s, lv = ircad11(t)
			} else if s, err = dicom.ReadSeries(ctx, tc.dir(t), dicom.Options{}); err != nil {
				t.Fatal(err)
			}
			src, err := SourceFromSeries(s)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case lv != nil: // IRCAD 1.1 labels from the cache
			case tc.masks != nil:
				if lv, err = dicom.ReadIRCADMasks(ctx, tc.masks(t), s.Geometry); err != nil {
					t.Fatal(err)
				}
			default:
				lv = ellipsoidLabels(t, s.Geometry)
			}
			segs, err := NodeSegments("test-1.0")
			if err != nil {
				t.Fatal(err)
			}
			path, res := encodeFile(t, src, lv, segs, Options{})
			if res.GeneratedFrameOfReference != tc.wantGeneratedFoR {
				t.Errorf("GeneratedFrameOfReference = %v, want %v", res.GeneratedFrameOfReference, tc.wantGeneratedFoR)
			}
			for i, sum := range res.Segments {
				if tc.wantVoxels[i] != 0 && sum.Voxels != tc.wantVoxels[i] {
					t.Errorf("segment %d: %d voxels, want %d", sum.Number, sum.Voxels, tc.wantVoxels[i])
				}
				if tc.wantFrames[i] != 0 && sum.Frames != tc.wantFrames[i] {
					t.Errorf("segment %d: %d frames, want %d", sum.Number, sum.Frames, tc.wantFrames[i])
				}
				if sum.Voxels == 0 {
					t.Errorf("segment %d is empty", sum.Number)
				}
			}
			t.Logf("%s: %d frames, segments %+v, %d bytes, FoR generated %v", tc.name, res.Frames, res.Segments, res.Bytes, res.GeneratedFrameOfReference)

			rb := pydicomReadback(t, path, src, lv, segs)
			if rb.DiffVoxels != 0 || len(rb.Errors) != 0 {
				t.Errorf("pydicom read-back: %d voxel differences, errors %v", rb.DiffVoxels, rb.Errors)
			}
			errs, warns := dciodvfy(t, path)
			if len(errs) > 0 {
				t.Errorf("dciodvfy errors:\n%v", errs)
			}
			checkKnownWarnings(t, warns)
			if w := dcmdumpWarnings(t, path); len(w) > 0 {
				t.Errorf("dcmdump warnings: %v", w)
			}

			checkSorted(t, sg0(t, path), "")
			sg, err := ReadFile(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if sg.StudyInstanceUID != s.StudyInstanceUID || sg.ReferencedSeriesInstanceUID != s.SeriesInstanceUID ||
				len(sg.ReferencedInstances) != len(s.Instances) {
				t.Errorf("read back study %s, referenced series %s with %d instances; want %s, %s, %d",
					sg.StudyInstanceUID, sg.ReferencedSeriesInstanceUID, len(sg.ReferencedInstances), s.StudyInstanceUID, s.SeriesInstanceUID, len(s.Instances))
			}
			if s.FrameOfReferenceUID != "" && sg.FrameOfReferenceUID != s.FrameOfReferenceUID {
				t.Errorf("FrameOfReferenceUID %s, want the source's %s", sg.FrameOfReferenceUID, s.FrameOfReferenceUID)
			}
			for _, seg := range segs {
				m, err := sg.Mask(seg.Number, s.Geometry)
				if err != nil {
					t.Fatal(err)
				}
				diff := 0
				for i, v := range lv.Labels {
					if (m.Labels[i] == 1) != slices.Contains(seg.Labels, v) {
						diff++
					}
				}
				if diff != 0 {
					t.Errorf("own reader: segment %d differs in %d voxels", seg.Number, diff)
				}
			}
		})
	}
}

// sg0 parses path with suyashkumar/dicom, pixel data left packed.
func sg0(t *testing.T, path string) []*dcm.Element {
	t.Helper()
	ds, err := dcm.ParseFile(path, nil, dcm.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatal(err)
	}
	return ds.Elements
}

// TestEncodeMultiFrameSources encodes SEGs over the two multi-frame CT
// series of the shared data: an Enhanced CT (512×512×2) and a Legacy
// Converted Enhanced CT of dcmqi's 38×23×3 slices (odd frame size). Each
// frame must reference its source frame (ReferencedFrameNumber) and the
// instance is listed once in ReferencedSeriesSequence.
func TestEncodeMultiFrameSources(t *testing.T) {
	sc, err := dicom.ReadDir(context.Background(), testdata.Shared(t, "data/enhanced-ct"), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Series) != 2 {
		t.Fatalf("%d series in enhanced-ct, want 2 (refused %v)", len(sc.Series), sc.Refused)
	}
	for _, s := range sc.Series {
		t.Run(s.SOPClassUID, func(t *testing.T) {
			src, err := SourceFromSeries(s)
			if err != nil {
				t.Fatal(err)
			}
			lv := sphereLabels(t, s.Geometry, true)
			segs := threeSegments(t)
			path, res := encodeFile(t, src, lv, segs, Options{AllSlices: true})
			want, _ := naiveFrames(lv, segs, true)
			if res.Frames != want[1]+want[2]+want[3] || want[1] != s.Geometry.Size[2] {
				t.Errorf("%d frames, want %v per segment", res.Frames, want)
			}
			rb := pydicomReadback(t, path, src, lv, segs)
			if rb.DiffVoxels != 0 || len(rb.Errors) != 0 {
				t.Errorf("pydicom read-back: %d voxel differences, errors %v", rb.DiffVoxels, rb.Errors)
			}
			sg, err := ReadFile(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if len(sg.ReferencedInstances) != 1 || sg.ReferencedInstances[0] != s.Instances[0].SOPInstanceUID {
				t.Errorf("referenced instances %v, want the one multi-frame instance", sg.ReferencedInstances)
			}
			for i, f := range sg.Frames {
				z := f.DimensionIndexValues[1] - 1
				if f.ReferencedFrameNumber != s.Instances[z].FrameNumber || f.ReferencedFrameNumber == 0 {
					t.Errorf("frame %d references source frame %d, want %d", i+1, f.ReferencedFrameNumber, s.Instances[z].FrameNumber)
				}
			}
			errs, warns := dciodvfy(t, path)
			if len(errs) > 0 {
				t.Errorf("dciodvfy errors:\n%v", errs)
			}
			checkKnownWarnings(t, warns)
		})
	}
}
