package dicomweb

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mhpnet/node/internal/testdata"
)

func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata.Shared(t, "data/dicomweb"), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseRecordedMetadata reads Orthanc's recorded series metadata of
// the dcmqi 3-slice CT and checks typed values against dcmdump's.
func TestParseRecordedMetadata(t *testing.T) {
	ds, err := ParseDatasets(recorded(t, "orthanc-recorded/ct3-metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("%d datasets, want 3", len(ds))
	}
	d := ds[0]
	if got := d.String(SOPClassUID); got != "1.2.840.10008.5.1.4.1.1.2" {
		t.Errorf("SOPClassUID = %q", got)
	}
	if got := d.String(SeriesInstanceUID); got != "1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1" {
		t.Errorf("SeriesInstanceUID = %q", got)
	}
	if r, ok := d.Int(Rows); !ok || r != 512 {
		t.Errorf("Rows = %d, %v", r, ok)
	}
	// ImagePositionPatient (0020,0032) DS, 3 values
	if got := d.Strings(0x00200032); !cmp.Equal(got, []string{"-235.199997", "-226.800003", "-126.69000200000001"}) { // Orthanc writes the double, not the DS text
		t.Errorf("ImagePositionPatient = %v", got)
	}
	// PixelPaddingValue (0028,0120) SS -2000
	if v, ok := d.Int(0x00280120); !ok || v != -2000 {
		t.Errorf("PixelPaddingValue = %d, %v", v, ok)
	}
	// RescaleSlope (0028,1053) DS 1
	if f, ok := d.Float(0x00281053); !ok || f != 1 {
		t.Errorf("RescaleSlope = %v, %v", f, ok)
	}
	if got := d.PersonName(PatientName).Alphabetic; got != "JANCT000" {
		t.Errorf("PatientName = %q", got)
	}
	// ImageType (0008,0008) CS, 3 values
	if got := d.Strings(0x00080008); !cmp.Equal(got, []string{"ORIGINAL", "PRIMARY", "AXIAL"}) {
		t.Errorf("ImageType = %v", got)
	}
	pd := d.Get(PixelData)
	if pd == nil || pd.VR != "OW" || !strings.HasSuffix(pd.BulkDataURI, "/instances/1.2.392.200103.20080913.113635.2.2009.6.22.21.43.10.23431.1/bulk/7fe00010") {
		t.Errorf("PixelData = %+v, want a BulkDataURI ending in the instance's /bulk/7fe00010", pd)
	}
	// (0008,0005) has a vr and no Value: present, empty
	if e := d.Get(SpecificCharacterSet); e == nil || e.Len() != 0 {
		t.Errorf("SpecificCharacterSet = %+v, want present with no value", e)
	}
	tags := d.Tags()
	for i := 1; i < len(tags); i++ {
		if tags[i-1] >= tags[i] {
			t.Fatalf("Tags() not ascending at %d", i)
		}
	}
}

// TestParseOtherMetadata reads the two non-Orthanc metadata fixtures.
func TestParseOtherMetadata(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		n           int
		tag         Tag
		want        string
		bulkDataURI string
	}{
		{"cornerstone", "wadors-responses/cornerstone-CTImage-metadata.json", 1, Modality, "CT", "../../testImages/wadors/CTImageEvenAligned.dat"},
		{"dicomweb-client", "wadors-responses/dicomweb-client-retrieve_instance_metadata.json", 1, SOPClassUID, "1.2.840.10008.5.1.4.1.1.7", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ParseDatasets(recorded(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != tc.n {
				t.Fatalf("%d datasets, want %d", len(ds), tc.n)
			}
			if got := ds[0].String(tc.tag); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.tag, got, tc.want)
			}
			if tc.name == "cornerstone" {
				// ImageOrientationPatient is one backslash-joined string
				// there; it must come back as 6 numbers
				if got := ds[0].Strings(0x00200037); len(got) != 6 || got[1] != "7.0448747e-016" || got[5] != "-1" {
					t.Errorf("ImageOrientationPatient = %q", got)
				}
			}
			if tc.bulkDataURI != "" {
				if got := ds[0].Get(PixelData).BulkDataURI; got != tc.bulkDataURI {
					t.Errorf("PixelData BulkDataURI = %q", got)
				}
			}
		})
	}
}

func TestParseElements(t *testing.T) {
	in := `[{
	  "00100010": {"vr":"PN","Value":[{"Alphabetic":"Doe^Jane","Ideographic":"ド"}, null]},
	  "00200013": {"vr":"IS","Value":[7]},
	  "00181050": {"vr":"DS","Value":["1.5 "]},
	  "00280008": {"vr":"IS","Value":["12"]},
	  "00081199": {"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]}}, {}]},
	  "00091001": {"vr":"OB","InlineBinary":"AQID"},
	  "00080061": {"vr":"CS","Value":["CT","SEG"]},
	  "00201206": {"vr":"IS","Value":[9007199254740993]},
	  "00080016": {"vr":"UI","Value":[null]}
	}]`
	ds, err := ParseDatasets([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	if got := d.PersonName(PatientName); got != (PersonName{Alphabetic: "Doe^Jane", Ideographic: "ド"}) {
		t.Errorf("PN = %+v", got)
	}
	if e := d.Get(PatientName); e.Len() != 2 || !e.Null[1] {
		t.Errorf("PN null value: %+v", e)
	}
	if v, _ := d.Int(InstanceNumber); v != 7 {
		t.Errorf("IS = %d", v)
	}
	if v, ok := d.Float(0x00181050); !ok || v != 1.5 {
		t.Errorf("DS as string = %v, %v", v, ok)
	}
	if v, ok := d.Int(NumberOfFrames); !ok || v != 12 {
		t.Errorf("IS as string = %v, %v", v, ok)
	}
	items := d.Sequence(ReferencedSOPSequence)
	if len(items) != 2 || items[0].String(ReferencedSOPInstanceUID) != "1.2.3" || len(items[1]) != 0 {
		t.Errorf("SQ items = %v", items)
	}
	if got := d.Get(0x00091001).InlineBinary; !cmp.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("InlineBinary = %v", got)
	}
	if got := d.Strings(ModalitiesInStudy); !cmp.Equal(got, []string{"CT", "SEG"}) {
		t.Errorf("CS = %v", got)
	}
	// json.Number keeps integers beyond float64 precision
	if got := d.Get(NumberOfStudyRelatedSeries).Numbers[0]; got != json.Number("9007199254740993") {
		t.Errorf("big IS = %s", got)
	}
	if e := d.Get(SOPClassUID); e.Len() != 1 || !e.Null[0] || d.String(SOPClassUID) != "" {
		t.Errorf("null UI = %+v", e)
	}
	var nilDS Dataset
	if nilDS.String(SOPClassUID) != "" || nilDS.Sequence(ReferencedSOPSequence) != nil {
		t.Error("nil Dataset must answer zero values")
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat(`{"00081199":{"vr":"SQ","Value":[`, 40) + "{}" + strings.Repeat("]}}", 40)
	tests := []struct {
		name     string
		in       string
		wantPath string
	}{
		{"not json", `[{"0020000D":`, ""},
		{"not an array", `"hello"`, ""},
		{"bad tag", `[{"2000D":{"vr":"UI"}}]`, "[0].2000D"},
		{"no vr", `[{"0020000D":{"Value":["1"]}}]`, "[0].0020000D"},
		{"value not array", `[{"0020000D":{"vr":"UI","Value":"1.2"}}]`, "[0].0020000D.Value"},
		{"number not number", `[{"00200013":{"vr":"IS","Value":["seven"]}}]`, "[0].00200013.Value[0]"},
		{"object under string VR", `[{"0020000D":{"vr":"UI","Value":[{}]}}]`, "[0].0020000D.Value[0]"},
		{"bad base64", `[{"00091001":{"vr":"OB","InlineBinary":"!!"}}]`, "[0].00091001.InlineBinary"},
		{"item not object", `[{"00081199":{"vr":"SQ","Value":[3]}}]`, "[0].00081199.Value[0]"},
		{"too deep", "[" + deep + "]", ""},
		{"trailing data", `[] []`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDatasets([]byte(tc.in))
			if !errors.Is(err, ErrDICOMJSON) {
				t.Fatalf("err = %v, want ErrDICOMJSON", err)
			}
			var je *JSONError
			if !errors.As(err, &je) {
				t.Fatalf("err %T is not a *JSONError", err)
			}
			if tc.wantPath != "" && je.Path != tc.wantPath {
				t.Errorf("path = %q, want %q", je.Path, tc.wantPath)
			}
		})
	}
}

func TestDecodeLimit(t *testing.T) {
	_, err := DecodeDatasets(strings.NewReader(`[{"0020000D":{"vr":"UI","Value":["1.2.3"]}}]`), 10)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	ds, err := DecodeDatasets(strings.NewReader("  \n"), 10)
	if err != nil || len(ds) != 0 {
		t.Fatalf("empty body = %v, %v; want no datasets", ds, err)
	}
}
