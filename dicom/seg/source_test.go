package seg

import (
	"testing"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func TestHeaderElements(t *testing.T) {
	var els []*dcm.Element
	for _, kv := range []struct {
		t tag.Tag
		v string
	}{
		{tag.SpecificCharacterSet, "ISO_IR 100"},
		{tag.SOPInstanceUID, "1.2.3"},
		{tag.PatientName, "Doe^Jane"},
		{tag.PatientID, "P1"},
		{tag.IssuerOfPatientID, "HOSPITAL"},
		{tag.StudyDate, "20260101"},
		{tag.AccessionNumber, "A1"},
		{tag.Modality, "CT"},
		{tag.SeriesInstanceUID, "1.2.4"},
		{tag.PatientAge, "060Y"},
		{tag.StudyDescription, "CT ABDOMEN"},
		{tag.PositionReferenceIndicator, "SN"},
		{tag.SliceThickness, "1.25"},
	} {
		e, err := dcm.NewElement(kv.t, []string{kv.v})
		if err != nil {
			t.Fatal(err)
		}
		els = append(els, e)
	}
	got := HeaderElements(dcm.Dataset{Elements: els})
	want := []tag.Tag{tag.SpecificCharacterSet, tag.PatientName, tag.PatientID, tag.IssuerOfPatientID, tag.StudyDate,
		tag.AccessionNumber, tag.PatientAge, tag.StudyDescription, tag.PositionReferenceIndicator}
	if len(got) != len(want) {
		t.Fatalf("HeaderElements kept %d elements, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Tag != want[i] {
			t.Errorf("element %d is %v, want %v", i, e.Tag, want[i])
		}
	}
}
