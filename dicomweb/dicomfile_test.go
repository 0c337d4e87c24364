package dicomweb

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// part10 is what the tests compare of a Part 10 instance: its UIDs, its
// transfer syntax and its PixelData bytes (native: the value; encapsulated:
// the fragments after the offset table, concatenated).
type part10 struct {
	SOPInstanceUID    string
	SeriesInstanceUID string
	TransferSyntaxUID string
	Encapsulated      bool
	Pixels            []byte
}

func parsePart10(t testing.TB, b []byte) part10 {
	t.Helper()
	ds, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), nil, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatalf("parse Part 10 (%d bytes): %v", len(b), err)
	}
	var p part10
	str := func(tg tag.Tag) string {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			return ""
		}
		s, _ := e.Value.GetValue().([]string)
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	p.SOPInstanceUID = str(tag.SOPInstanceUID)
	p.SeriesInstanceUID = str(tag.SeriesInstanceUID)
	p.TransferSyntaxUID = str(tag.TransferSyntaxUID)
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatalf("no PixelData in %s", p.SOPInstanceUID)
	}
	info := dicom.MustGetPixelDataInfo(e.Value)
	if info.IsEncapsulated {
		p.Encapsulated = true
		for _, f := range info.Frames {
			p.Pixels = append(p.Pixels, f.EncapsulatedData.Data...)
		}
	} else {
		p.Pixels = info.UnprocessedValueData
	}
	return p
}

func parsePart10File(t testing.TB, path string) part10 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parsePart10(t, b)
}

func readAllPart(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// part10Header is the UIDs of a Part 10 file, read without its pixels.
type part10Header struct {
	StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID string
}

func parsePart10Header(t testing.TB, b []byte) part10Header {
	t.Helper()
	ds, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	get := func(tg tag.Tag) string {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatalf("no %v", tg)
		}
		s, _ := e.Value.GetValue().([]string)
		if len(s) == 0 {
			t.Fatalf("empty %v", tg)
		}
		return s[0]
	}
	return part10Header{get(tag.StudyInstanceUID), get(tag.SeriesInstanceUID), get(tag.SOPInstanceUID)}
}

// minimalPart10 writes a Part 10 file holding only its SOP class and
// instance UIDs (no study, series or patient).
func minimalPart10(t testing.TB, sopClass, sopInstance string) []byte {
	t.Helper()
	mk := func(tg tag.Tag, v any) *dicom.Element {
		e, err := dicom.NewElement(tg, v)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ds := dicom.Dataset{Elements: []*dicom.Element{
		mk(tag.MediaStorageSOPClassUID, []string{sopClass}),
		mk(tag.MediaStorageSOPInstanceUID, []string{sopInstance}),
		mk(tag.TransferSyntaxUID, []string{"1.2.840.10008.1.2.1"}),
		mk(tag.SOPClassUID, []string{sopClass}),
		mk(tag.SOPInstanceUID, []string{sopInstance}),
	}}
	var buf bytes.Buffer
	if err := dicom.Write(&buf, ds); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
