package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	godicom "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// synthSlice describes one synthetic CT slice written with suyashkumar/dicom
// (tests only: no real data is copied into the repository).
type synthSlice struct {
	Series, SOP, Study string
	SOPClass           string
	TS                 string
	Modality           string
	ImageType          []string
	IPP                [3]float64
	IOP                [6]float64
	Rows, Cols         int
	PixelSpacing       [2]float64
	Thickness          float64
	BitsAllocated      int
	BitsStored         int
	HighBit            int
	PixelRep           int
	Slope, Intercept   float64
	Padding            *int
	Stored             []int // stored values, row-major; len Rows*Cols
	InstanceNumber     int
	// Drop removes attributes; Extra adds some before Pixel Data.
	Drop  []tag.Tag
	Extra []*godicom.Element
}

// defaultSlice is a 4x3 signed 16-bit CT slice at z.
func defaultSlice(series string, i int, z float64) synthSlice {
	s := synthSlice{
		Series: series, SOP: fmt.Sprintf("%s.%d", series, i+1), Study: "2.25.1000",
		SOPClass: CTImageStorage, TS: ExplicitVRLittleEndian, Modality: "CT",
		ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"},
		IPP:       [3]float64{-10, -20, z}, IOP: [6]float64{1, 0, 0, 0, 1, 0},
		Rows: 3, Cols: 4, PixelSpacing: [2]float64{0.5, 0.75}, Thickness: 2,
		BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRep: 1, Slope: 1, Intercept: -1024,
		InstanceNumber: 100 - i, // deliberately opposite to z
	}
	s.Stored = make([]int, s.Rows*s.Cols)
	for j := range s.Stored {
		s.Stored[j] = 1000 + 10*i + j
	}
	return s
}

func ds(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func mustEl(t testing.TB, tg tag.Tag, v any) *godicom.Element {
	t.Helper()
	el, err := godicom.NewElement(tg, v)
	if err != nil {
		t.Fatalf("NewElement %v: %v", tg, err)
	}
	return el
}

// encode writes the slice as a Part 10 object.
func (s synthSlice) encode(t testing.TB) []byte {
	t.Helper()
	bo := binary.ByteOrder(binary.LittleEndian)
	if s.TS == ExplicitVRBigEndian {
		bo = binary.BigEndian
	}
	px := make([]byte, len(s.Stored)*s.BitsAllocated/8)
	for i, v := range s.Stored {
		if s.BitsAllocated == 16 {
			bo.PutUint16(px[2*i:], uint16(v))
		} else {
			px[i] = byte(v)
		}
	}
	pd := mustEl(t, tag.PixelData, godicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: px})
	if s.BitsAllocated == 8 {
		pd.RawValueRepresentation = "OB"
	}
	els := []*godicom.Element{
		mustEl(t, tag.MediaStorageSOPClassUID, []string{s.SOPClass}),
		mustEl(t, tag.MediaStorageSOPInstanceUID, []string{s.SOP}),
		mustEl(t, tag.TransferSyntaxUID, []string{s.TS}),
		mustEl(t, tag.ImageType, s.ImageType),
		mustEl(t, tag.SOPClassUID, []string{s.SOPClass}),
		mustEl(t, tag.SOPInstanceUID, []string{s.SOP}),
		mustEl(t, tag.Modality, []string{s.Modality}),
		mustEl(t, tag.SeriesDescription, []string{"synthetic"}),
		mustEl(t, tag.PatientName, []string{"SYNTH^PATIENT"}),
		mustEl(t, tag.PatientID, []string{"SECRET-ID-42"}),
		mustEl(t, tag.SliceThickness, []string{ds(s.Thickness)}),
		mustEl(t, tag.StudyInstanceUID, []string{s.Study}),
		mustEl(t, tag.SeriesInstanceUID, []string{s.Series}),
		mustEl(t, tag.InstanceNumber, []string{strconv.Itoa(s.InstanceNumber)}),
		mustEl(t, tag.ImagePositionPatient, []string{ds(s.IPP[0]), ds(s.IPP[1]), ds(s.IPP[2])}),
		mustEl(t, tag.ImageOrientationPatient, []string{ds(s.IOP[0]), ds(s.IOP[1]), ds(s.IOP[2]), ds(s.IOP[3]), ds(s.IOP[4]), ds(s.IOP[5])}),
		mustEl(t, tag.SamplesPerPixel, []int{1}),
		mustEl(t, tag.PhotometricInterpretation, []string{"MONOCHROME2"}),
		mustEl(t, tag.Rows, []int{s.Rows}),
		mustEl(t, tag.Columns, []int{s.Cols}),
		mustEl(t, tag.PixelSpacing, []string{ds(s.PixelSpacing[0]), ds(s.PixelSpacing[1])}),
		mustEl(t, tag.BitsAllocated, []int{s.BitsAllocated}),
		mustEl(t, tag.BitsStored, []int{s.BitsStored}),
		mustEl(t, tag.HighBit, []int{s.HighBit}),
		mustEl(t, tag.PixelRepresentation, []int{s.PixelRep}),
	}
	if s.Padding != nil {
		el := mustEl(t, tag.PixelPaddingValue, []int{*s.Padding})
		el.RawValueRepresentation = "US"
		if s.PixelRep == 1 {
			el.RawValueRepresentation = "SS"
		}
		els = append(els, el)
	}
	els = append(els,
		mustEl(t, tag.RescaleIntercept, []string{ds(s.Intercept)}),
		mustEl(t, tag.RescaleSlope, []string{ds(s.Slope)}))
	kept := els[:0]
	for _, e := range els {
		if !slices.Contains(s.Drop, e.Tag) {
			kept = append(kept, e)
		}
	}
	els = append(append(kept, s.Extra...), pd)
	var buf bytes.Buffer
	if err := godicom.Write(&buf, godicom.Dataset{Elements: els}); err != nil {
		t.Fatalf("writing synthetic slice: %v", err)
	}
	return buf.Bytes()
}

// writeSlices writes slices into dir as file_<i> (names unrelated to z).
func writeSlices(t testing.TB, dir string, slices []synthSlice) {
	t.Helper()
	for i, s := range slices {
		p := filepath.Join(dir, fmt.Sprintf("file_%03d", (i*7)%len(slices)))
		if err := os.WriteFile(p, s.encode(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// synthSeries returns n slices at z = z0 + i*step, modified by mod.
func synthSeries(series string, zs []float64, mod func(i int, s *synthSlice)) []synthSlice {
	out := make([]synthSlice, len(zs))
	for i, z := range zs {
		out[i] = defaultSlice(series, i, z)
		if mod != nil {
			mod(i, &out[i])
		}
	}
	return out
}

func steps(z0, step float64, n int) []float64 {
	zs := make([]float64, n)
	for i := range zs {
		zs[i] = z0 + float64(i)*step
	}
	return zs
}
