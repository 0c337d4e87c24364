package seg

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
)

// tagPaths lists every attribute of els as a path of keywords
// ("ReferencedSeriesSequence/ReferencedInstanceSequence/ReferencedSOPClassUID").
func tagPaths(els []*dcm.Element, prefix string, out map[string]bool) {
	for _, e := range els {
		name := e.Tag.String()
		if info, err := tag.Find(e.Tag); err == nil {
			name = info.Keyword
		}
		p := prefix + name
		out[p] = true
		if e.Value != nil && e.Value.ValueType() == dcm.Sequences {
			for _, it := range e.Value.GetValue().([]*dcm.SequenceItemValue) {
				tagPaths(it.GetValue().([]*dcm.Element), p+"/", out)
			}
		}
	}
}

// notApplicable are attributes of dcmqi's liver.dcm the node does not
// write, with the reason.
var notApplicable = map[string]string{
	// Clinical Trial Subject/Series modules: dcmqi takes them from its
	// metadata JSON; the node's SEGs belong to no trial.
	"ClinicalTrialTimePointID":            "clinical trial module, not a trial",
	"ClinicalTrialCoordinatingCenterName": "clinical trial module, not a trial",
	"ClinicalTrialSeriesID":               "clinical trial module, not a trial",
}

// TestTagsOfDcmqiReference encodes a SEG over the very CT dcmqi's
// liver.dcm was made from and lists the attributes of liver.dcm that ours
// lacks.
func TestTagsOfDcmqiReference(t *testing.T) {
	ref, err := dcm.ParseFile(testdata.Shared(t, "data/seg-reference/dcmqi/liver.dcm"), nil, dcm.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatal(err)
	}
	s, err := dicom.ReadSeries(context.Background(), testdata.Shared(t, "data/dcmqi/ct-3slice"), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := SourceFromSeries(s)
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := NodeSegments("test-1.0")
	path, _ := encodeFile(t, src, ellipsoidLabels(t, s.Geometry), segs, Options{})
	ours, err := dcm.ParseFile(path, nil, dcm.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatal(err)
	}
	checkSorted(t, ours.Elements, "")
	want, got := map[string]bool{}, map[string]bool{}
	tagPaths(ref.Elements, "", want)
	tagPaths(ours.Elements, "", got)
	var missing []string
	for p := range want {
		if !got[p] && notApplicable[p] == "" {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("attributes of dcmqi's liver.dcm missing from ours:\n%s", strings.Join(missing, "\n"))
	}
	var extra []string
	for p := range got {
		if !want[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	t.Logf("attributes we add beyond dcmqi's liver.dcm: %s", strings.Join(extra, ", "))
}

// checkSorted fails when an element is not after its predecessor at any
// level (PS3.5 7.1: ascending tag order in a data set and in every item).
func checkSorted(t *testing.T, els []*dcm.Element, path string) {
	t.Helper()
	for i, e := range els {
		if i > 0 && compareTags(els[i-1].Tag, e.Tag) >= 0 {
			t.Errorf("%s: %v follows %v", path, e.Tag, els[i-1].Tag)
		}
		if e.Value != nil && e.Value.ValueType() == dcm.Sequences {
			for j, it := range e.Value.GetValue().([]*dcm.SequenceItemValue) {
				checkSorted(t, it.GetValue().([]*dcm.Element), fmt.Sprintf("%s/%v[%d]", path, e.Tag, j+1))
			}
		}
	}
}
