package codec

import (
	"os"
	"strconv"
	"strings"
	"testing"

	godicom "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/dicom"
)

// object is the pixel data and pixel module of one file, read with the
// parsing library directly: the dicom package exposes decoded pixels per
// series only, and refuses series with empty UIDs (TotalSegmentator).
type object struct {
	px      *dicom.PixelData
	format  dicom.PixelFormat
	rescale dicom.Rescale
	ts      string
}

func readObject(tb testing.TB, path string) object {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	ds, err := godicom.ParseUntilEOF(strings.NewReader(string(b)), nil, godicom.SkipProcessingPixelDataValue())
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	num := func(t tag.Tag, def float64) float64 {
		el, err := ds.FindElementByTag(t)
		if err != nil {
			return def
		}
		switch v := el.Value.GetValue().(type) {
		case []int:
			return float64(v[0])
		case []string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64)
			if err != nil {
				tb.Fatalf("%s: %v: %v", path, t, err)
			}
			return f
		}
		tb.Fatalf("%s: %v has %T", path, t, el.Value.GetValue())
		return 0
	}
	o := object{
		format: dicom.PixelFormat{
			Rows: int(num(tag.Rows, 0)), Columns: int(num(tag.Columns, 0)), SamplesPerPixel: int(num(tag.SamplesPerPixel, 1)),
			BitsAllocated: int(num(tag.BitsAllocated, 0)), BitsStored: int(num(tag.BitsStored, 0)), HighBit: int(num(tag.HighBit, 0)),
			PixelRepresentation: int(num(tag.PixelRepresentation, 0)),
		},
		rescale: dicom.Rescale{Slope: num(tag.RescaleSlope, 1), Intercept: num(tag.RescaleIntercept, 0)},
	}
	if el, err := ds.FindElementByTag(tag.TransferSyntaxUID); err == nil {
		o.ts = strings.Trim(el.Value.GetValue().([]string)[0], " \x00")
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		tb.Fatalf("%s: no pixel data", path)
	}
	info := el.Value.GetValue().(godicom.PixelDataInfo)
	o.px = &dicom.PixelData{Frames: int(num(tag.NumberOfFrames, 1))}
	if info.IsEncapsulated {
		for _, f := range info.Frames {
			o.px.Fragments = append(o.px.Fragments, f.EncapsulatedData.Data)
		}
	} else {
		o.px.Native = info.UnprocessedValueData
	}
	return o
}

// stored returns the stored values of a decoded frame (sign-extended when
// PixelRepresentation is 1).
func stored(f dicom.PixelFormat, raw []byte) []int {
	n := f.Rows * f.Columns
	out := make([]int, n)
	for i := range n {
		var v uint32
		if f.BitsAllocated == 16 {
			v = uint32(raw[2*i]) | uint32(raw[2*i+1])<<8
		} else {
			v = uint32(raw[i])
		}
		v &= 1<<f.BitsStored - 1
		s := int(v)
		if f.PixelRepresentation == 1 && v&(1<<(f.BitsStored-1)) != 0 {
			s -= 1 << f.BitsStored
		}
		out[i] = s
	}
	return out
}
