package seg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/volume"
)

// fixedTime keeps synthetic SEGs byte-identical between runs.
var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// synthSource describes a synthetic single-frame CT series of nx×ny×nz
// voxels with a rotated-free axial geometry.
func synthSource(t testing.TB, nx, ny, nz int) Source {
	t.Helper()
	g := volume.Geometry{
		Size:      [3]int{nx, ny, nz},
		Origin:    [3]float64{-120.5, -99.25, 30},
		Spacing:   [3]float64{0.75, 0.8, 2.5},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
	src := Source{
		StudyInstanceUID:    "1.2.826.0.1.3680043.8.498.1",
		SeriesInstanceUID:   fmt.Sprintf("1.2.826.0.1.3680043.8.498.2.%d.%d.%d", nx, ny, nz),
		FrameOfReferenceUID: "1.2.826.0.1.3680043.8.498.3",
		Geometry:            g,
		SliceThickness:      2.5,
	}
	for z := 0; z < nz; z++ {
		src.Slices = append(src.Slices, SourceSlice{
			SOPClassUID:          "1.2.840.10008.5.1.4.1.1.2",
			SOPInstanceUID:       fmt.Sprintf("%s.%d", src.SeriesInstanceUID, z+1),
			ImagePositionPatient: g.SlicePosition(z),
		})
	}
	mk := func(tg tag.Tag, v any) *dcm.Element {
		e, err := dcm.NewElement(tg, v)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	src.Header = []*dcm.Element{
		mk(tag.PatientName, []string{"Synthetic^Phantom"}),
		mk(tag.PatientID, []string{"SYN-001"}),
		mk(tag.IssuerOfPatientID, []string{"MHPNET-TEST"}),
		mk(tag.PatientBirthDate, []string{"19700101"}),
		mk(tag.PatientSex, []string{"O"}),
		mk(tag.StudyDate, []string{"20260101"}),
		mk(tag.StudyTime, []string{"120000"}),
		mk(tag.AccessionNumber, []string{"ACC1"}),
		mk(tag.ReferringPhysicianName, []string{""}),
		mk(tag.StudyID, []string{"S1"}),
		mk(tag.StudyDescription, []string{"Synthetic CT"}),
		mk(tag.PatientAge, []string{"056Y"}),
	}
	return src
}

// sphereLabels draws label 1 in a sphere and label 2 in a smaller sphere
// inside it, plus label 3 as a box where boxes are asked for.
func sphereLabels(t testing.TB, g volume.Geometry, withBox bool) *volume.LabelVolume {
	t.Helper()
	lv, err := volume.NewLabelVolume(g)
	if err != nil {
		t.Fatal(err)
	}
	cx, cy, cz := float64(g.Size[0])*0.45, float64(g.Size[1])*0.55, float64(g.Size[2])*0.5
	r := 0.35 * float64(min(g.Size[0], g.Size[1]))
	rz := 0.35 * float64(g.Size[2])
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				dx, dy, dz := (float64(x)-cx)/r, (float64(y)-cy)/r, (float64(z)-cz)/rz
				d := dx*dx + dy*dy + dz*dz
				i := g.Index(x, y, z)
				switch {
				case d < 0.15:
					lv.Labels[i] = 2
				case d < 1:
					lv.Labels[i] = 1
				}
				if withBox && x >= 1 && x < max(3, g.Size[0]/3) && y >= 1 && y < max(3, g.Size[1]/4) && z >= 1 && z < g.Size[2]-1 {
					lv.Labels[i] = 3
				}
			}
		}
	}
	return lv
}

// threeSegments is liver {1,2}, tumor {2} and a third "other" segment {3}.
func threeSegments(t testing.TB) []Segment {
	t.Helper()
	segs, err := NodeSegments("test-1.0")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSegment(Segment{
		Number: 3, Label: "Box", Category: Code{"85756007", "SCT", "Tissue"}, Type: Code{"85756007", "SCT", "Tissue"},
		AlgorithmType: AlgorithmManual, RGB: [3]uint8{0, 128, 255}, Labels: []uint8{3},
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(segs, other)
}

// encodeFile encodes to a temporary file and returns its path and result.
func encodeFile(t testing.TB, src Source, lv *volume.LabelVolume, segs []Segment, opts Options) (string, Result) {
	t.Helper()
	if opts.ModelVersion == "" {
		opts.ModelVersion = "test-1.0"
	}
	if opts.ContentTime.IsZero() {
		opts.ContentTime = fixedTime
	}
	var buf bytes.Buffer
	res, err := Encode(context.Background(), &buf, src, lv, segs, opts)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	p := filepath.Join(t.TempDir(), "seg.dcm")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, res
}

func itoa(n int) string { return fmt.Sprint(n) }

// mustElement makes an element by keyword with a placeholder value.
func mustElement(t testing.TB, keyword string) *dcm.Element {
	t.Helper()
	info, err := tag.FindByKeyword(keyword)
	if err != nil {
		t.Fatal(err)
	}
	e, err := dcm.NewElement(info.Tag, []string{"1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// knownWarnings are the dciodvfy warnings README.md explains: all of them
// are about values copied verbatim from the source series, which the SEG
// must repeat unchanged so that the PACS files it under the same patient
// and study.
var knownWarnings = []struct{ attribute, text string }{
	// dcmqi's "JANCT000", CRLM's "CRLM-CT-1004" and the Enhanced CT's
	// referring physician "Unknown" have no ^ separator.
	{"</PatientName(0010,0010)", "Retired Person Name form"},
	{"</ReferringPhysicianName(0008,0090)", "Retired Person Name form"},
	// IRCAD has an empty PatientID and no StudyID; both are type 2 in the
	// SEG and written empty, which only a DICOMDIR would need filled.
	{"</PatientID(0010,0020)>", "would be needed to build DICOMDIR"},
	{"</StudyID(0020,0010)>", "would be needed to build DICOMDIR"},
	// CRLM-CT-1004's study carries a GE private coding scheme.
	{"</ProcedureCodeSequence(0008,1032)", "Unrecognized defined term = <GEIIS>"},
}

// checkKnownWarnings fails on dciodvfy warnings that are not explained in
// README.md ("dciodvfy warnings").
func checkKnownWarnings(t *testing.T, warns []string) {
	t.Helper()
	for _, w := range warns {
		known := false
		for _, k := range knownWarnings {
			if strings.Contains(w, k.attribute) && strings.Contains(w, k.text) {
				known = true
			}
		}
		if !known {
			t.Errorf("unexplained dciodvfy warning: %s", w)
		}
	}
}

// ircadFixture is IRCAD 1.1 read once for the tests that need it (reading
// its eight mask folders takes seconds).
type ircadFixture struct {
	series *dicom.Series
	labels *volume.LabelVolume
}

var loadIRCAD11 = sync.OnceValues(func() (ircadFixture, error) {
	ctx := context.Background()
	dir := filepath.Join(testdata.UnpackedDir(), "ircadb", "3Dircadb1.1")
	s, err := dicom.ReadSeries(ctx, filepath.Join(dir, "PATIENT_DICOM"), dicom.Options{})
	if err != nil {
		return ircadFixture{}, err
	}
	lv, err := dicom.ReadIRCADMasks(ctx, filepath.Join(dir, "MASKS_DICOM"), s.Geometry)
	if err != nil {
		return ircadFixture{}, err
	}
	return ircadFixture{series: s, labels: lv}, nil
})

// ircad11 returns IRCAD 1.1 and its labels (liver 1, tumor 2).
func ircad11(t testing.TB) (*dicom.Series, *volume.LabelVolume) {
	t.Helper()
	testdata.CT(t, "ircadb/3Dircadb1.1/MASKS_DICOM")
	f, err := loadIRCAD11()
	if err != nil {
		t.Fatal(err)
	}
	return f.series, f.labels
}
