package seg

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// dcmjsView is what integration/js/readseg.js prints.
type dcmjsView struct {
	TransferSyntaxUID   string `json:"transferSyntaxUID"`
	SOPClassUID         string `json:"sopClassUID"`
	StudyInstanceUID    string `json:"studyInstanceUID"`
	SeriesInstanceUID   string `json:"seriesInstanceUID"`
	FrameOfReferenceUID string `json:"frameOfReferenceUID"`
	Rows                int    `json:"rows"`
	Columns             int    `json:"columns"`
	NumberOfFrames      int    `json:"numberOfFrames"`
	ReferencedSeries    []struct {
		SeriesInstanceUID string   `json:"seriesInstanceUID"`
		Instances         []string `json:"instances"`
	} `json:"referencedSeries"`
	Segments []struct {
		Number int    `json:"number"`
		Label  string `json:"label"`
		Type   struct {
			Value string `json:"value"`
		} `json:"type"`
		CIELab []int `json:"cielab"`
	} `json:"segments"`
	Frames []struct {
		Segment              int       `json:"segment"`
		SourceSOPInstanceUID string    `json:"sourceSOPInstanceUID"`
		ImagePositionPatient []float64 `json:"imagePositionPatient"`
		DimensionIndexValues []int     `json:"dimensionIndexValues"`
		SetPixels            int       `json:"setPixels"`
	} `json:"frames"`
}

// readWithDcmjs runs integration/js/readseg.js (dcmjs, as OHIF reads SEG).
func readWithDcmjs(t *testing.T, path string) dcmjsView {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node not installed: %v", err)
	}
	dir := filepath.Join(testdata.RepoRoot(), "integration", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dcmjs")); err != nil {
		t.Skipf("dcmjs not installed in %s: run scripts/setup.sh (npm ci)", dir)
	}
	out, err := exec.Command(node, filepath.Join(dir, "readseg.js"), path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("readseg.js: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("readseg.js: %v", err)
	}
	var v dcmjsView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("readseg.js output: %v", err)
	}
	return v
}

func TestDcmjsReadsSEG(t *testing.T) {
	ctx := context.Background()
	type fixture struct {
		src  Source
		path string
		res  Result
		segs []Segment
	}
	tests := []struct {
		name string
		make func(t *testing.T) fixture
	}{
		{"synthetic 23x38 three segments", func(t *testing.T) fixture {
			src := synthSource(t, 23, 38, 9)
			segs := threeSegments(t)
			p, res := encodeFile(t, src, sphereLabels(t, src.Geometry, true), segs, Options{})
			return fixture{src: src, path: p, res: res, segs: segs}
		}},
		{"IRCAD 1.1 with masks", func(t *testing.T) fixture {
			s, lv := ircad11(t)
			src, err := SourceFromSeries(s)
			if err != nil {
				t.Fatal(err)
			}
			segs, _ := NodeSegments("test-1.0")
			p, res := encodeFile(t, src, lv, segs, Options{})
			return fixture{src: src, path: p, res: res, segs: segs}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.make(t)
			v := readWithDcmjs(t, f.path)
			if v.SOPClassUID != SegmentationStorage || v.TransferSyntaxUID != ExplicitVRLittleEndian ||
				v.SeriesInstanceUID != f.res.SeriesInstanceUID || v.StudyInstanceUID != f.src.StudyInstanceUID ||
				v.FrameOfReferenceUID != f.res.FrameOfReferenceUID {
				t.Errorf("dcmjs header: %+v", v)
			}
			if len(v.ReferencedSeries) != 1 || v.ReferencedSeries[0].SeriesInstanceUID != f.src.SeriesInstanceUID ||
				len(v.ReferencedSeries[0].Instances) != len(f.src.Slices) {
				t.Fatalf("dcmjs referenced series %+v, want %s with %d instances", v.ReferencedSeries, f.src.SeriesInstanceUID, len(f.src.Slices))
			}
			if len(v.Segments) != len(f.segs) {
				t.Fatalf("dcmjs finds %d segments, want %d", len(v.Segments), len(f.segs))
			}
			for i, s := range f.segs {
				lab := RGBToCIELab(s.RGB)
				if v.Segments[i].Number != s.Number || v.Segments[i].Label != s.Label || v.Segments[i].Type.Value != s.Type.CodeValue ||
					len(v.Segments[i].CIELab) != 3 || v.Segments[i].CIELab[0] != int(lab[0]) {
					t.Errorf("dcmjs segment %d = %+v, want %d %q", i, v.Segments[i], s.Number, s.Label)
				}
			}
			if v.NumberOfFrames != f.res.Frames || len(v.Frames) != f.res.Frames {
				t.Fatalf("dcmjs: %d frames (%d items), want %d", v.NumberOfFrames, len(v.Frames), f.res.Frames)
			}
			uidToZ := map[string]int{}
			for z, s := range f.src.Slices {
				uidToZ[s.SOPInstanceUID] = z
			}
			own, err := ReadFile(ctx, f.path)
			if err != nil {
				t.Fatal(err)
			}
			set := map[int]int{}
			for i, fr := range v.Frames {
				px, err := own.Frame(i)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, b := range px {
					n += int(b)
				}
				if n != fr.SetPixels {
					t.Errorf("frame %d: dcmjs unpacks %d pixels, our reader %d", i+1, fr.SetPixels, n)
				}
				z, ok := uidToZ[fr.SourceSOPInstanceUID]
				if !ok {
					t.Fatalf("frame %d references unknown instance %q", i+1, fr.SourceSOPInstanceUID)
				}
				want := f.src.Slices[z].ImagePositionPatient
				if len(fr.ImagePositionPatient) != 3 || fr.ImagePositionPatient[2] != want[2] ||
					len(fr.DimensionIndexValues) != 2 || fr.DimensionIndexValues[0] != fr.Segment || fr.DimensionIndexValues[1] != z+1 {
					t.Errorf("frame %d: position %v, index %v; want slice %d at %v", i+1, fr.ImagePositionPatient, fr.DimensionIndexValues, z, want)
				}
				set[fr.Segment] += fr.SetPixels
			}
			for _, s := range f.res.Segments {
				if set[s.Number] != s.Voxels {
					t.Errorf("dcmjs unpacks %d pixels of segment %d, want %d", set[s.Number], s.Number, s.Voxels)
				}
			}
		})
	}
}
