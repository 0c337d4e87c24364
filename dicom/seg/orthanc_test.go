package seg

import (
	"context"
	"testing"

	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/dicomweb/orthanctest"
)

// TestOrthancAcceptsSEG stores IRCAD 1.1 and its SEG in a real Orthanc
// over STOW-RS and finds the SEG under the source study with QIDO-RS;
// storing the SEG of a rerun again leaves one instance (same UIDs).
func TestOrthancAcceptsSEG(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Orthanc and stores 130 instances")
	}
	ctx := context.Background()
	s, lv := ircad11(t)
	src, err := SourceFromSeries(s)
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := NodeSegments("test-1.0")
	segPath, res := encodeFile(t, src, lv, segs, Options{})
	rerunPath, _ := encodeFile(t, src, lv, segs, Options{})

	srv := orthanctest.Start(t, orthanctest.Options{})
	c, err := dicomweb.New(dicomweb.Options{BaseURL: srv.DICOMwebURL()})
	if err != nil {
		t.Fatal(err)
	}
	var ups []dicomweb.Upload
	for _, in := range s.Instances {
		u, err := dicomweb.FileUpload(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	segUp, err := dicomweb.FileUpload(segPath)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.Store(ctx, "", append(ups, segUp)...)
	if err != nil {
		t.Fatalf("STOW-RS CT + SEG: %v", err)
	}
	if stored.Outcome != dicomweb.Stored || len(stored.Referenced) != len(ups)+1 || len(stored.Failed) != 0 {
		t.Fatalf("STOW-RS outcome %s: %d stored, %d failed; want %d stored", stored.Outcome, len(stored.Referenced), len(stored.Failed), len(ups)+1)
	}
	rerunUp, err := dicomweb.FileUpload(rerunPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(ctx, s.StudyInstanceUID, rerunUp); err != nil {
		t.Fatalf("STOW-RS of the rerun SEG into the study: %v", err)
	}

	series, err := c.SearchSeries(ctx, s.StudyInstanceUID, dicomweb.Query{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]dicomweb.Series{}
	for _, se := range series {
		found[se.SeriesInstanceUID] = se
	}
	if len(found) != 2 {
		t.Errorf("study lists %d series, want the CT and the SEG: %+v", len(found), series)
	}
	ct, sg := found[s.SeriesInstanceUID], found[res.SeriesInstanceUID]
	if ct.NumberOfSeriesRelatedInstances != len(s.Instances) {
		t.Errorf("CT series: %d instances, want %d", ct.NumberOfSeriesRelatedInstances, len(s.Instances))
	}
	if sg.Modality != "SEG" || sg.NumberOfSeriesRelatedInstances != 1 || sg.SeriesNumber != DefaultSeriesNumber {
		t.Errorf("SEG series under the study = %+v, want modality SEG, 1 instance (the rerun replaced it), number %d", sg, DefaultSeriesNumber)
	}
	insts, err := c.SearchInstances(ctx, s.StudyInstanceUID, res.SeriesInstanceUID, dicomweb.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 1 || insts[0].SOPInstanceUID != res.SOPInstanceUID || insts[0].SOPClassUID != SegmentationStorage {
		t.Errorf("SEG instances = %+v, want one %s of class %s", insts, res.SOPInstanceUID, SegmentationStorage)
	}
}
