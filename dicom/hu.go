package dicom

import (
	"fmt"
	"math"
)

// PaddingHU is the Hounsfield value given to padding pixels
// (PixelPaddingValue, PS3.3 C.7.5.1.1.2): air, so that padding outside the
// reconstruction circle never becomes a huge or very negative number.
const PaddingHU = -1024

// Limits on what the reader accepts before it allocates anything.
const (
	// MaxRows bounds Rows and Columns (CT is 512 or 1024; 4096 allows any
	// plausible reconstruction).
	MaxRows = 4096
	// MaxFrames bounds NumberOfFrames of one object and the slices of one
	// series.
	MaxFrames = 8192
)

// PixelFormat describes how the stored values of a frame are laid out
// (Image Pixel module, PS3.3 C.7.6.3.1).
type PixelFormat struct {
	Rows, Columns             int
	SamplesPerPixel           int
	BitsAllocated, BitsStored int
	HighBit                   int
	// PixelRepresentation is 0 for unsigned, 1 for two's complement.
	PixelRepresentation       int
	PhotometricInterpretation string
	// HasPadding reports whether PixelPaddingValue (0028,0120) is present;
	// PaddingValue and, when HasPaddingRangeLimit, PaddingRangeLimit
	// (0028,0121) are stored values (already sign-interpreted).
	HasPadding, HasPaddingRangeLimit bool
	PaddingValue, PaddingRangeLimit  int
}

// FrameBytes is the size in bytes of one native frame.
func (f PixelFormat) FrameBytes() int {
	return f.Rows * f.Columns * f.SamplesPerPixel * (f.BitsAllocated / 8)
}

// validate checks that the format is one the node converts to HU, within
// the size limits.
func (f PixelFormat) validate(path string) error {
	bad := func(attr string, v any, want string) error {
		return ErrInvalidAttribute{Attribute: attr, Value: fmt.Sprint(v), Want: want, Path: path}
	}
	switch {
	case f.Rows < 1 || f.Rows > MaxRows:
		return bad("Rows (0028,0010)", f.Rows, fmt.Sprintf("1..%d", MaxRows))
	case f.Columns < 1 || f.Columns > MaxRows:
		return bad("Columns (0028,0011)", f.Columns, fmt.Sprintf("1..%d", MaxRows))
	case f.SamplesPerPixel != 1:
		return bad("SamplesPerPixel (0028,0002)", f.SamplesPerPixel, "1 (grayscale CT)")
	case f.BitsAllocated != 8 && f.BitsAllocated != 16:
		return bad("BitsAllocated (0028,0100)", f.BitsAllocated, "8 or 16")
	case f.BitsStored < 1 || f.BitsStored > f.BitsAllocated:
		return bad("BitsStored (0028,0101)", f.BitsStored, fmt.Sprintf("1..%d", f.BitsAllocated))
	case f.PixelRepresentation != 0 && f.PixelRepresentation != 1:
		return bad("PixelRepresentation (0028,0103)", f.PixelRepresentation, "0 or 1")
	}
	return nil
}

// stored interprets a raw sample (already little-endian decoded) as the
// stored value: bits HighBit-BitsStored+1 .. HighBit, sign-extended when
// PixelRepresentation is 1.
func (f PixelFormat) stored(raw uint32) int {
	shift := f.HighBit + 1 - f.BitsStored
	if shift < 0 || f.HighBit >= f.BitsAllocated {
		shift = 0 // HighBit absent or inconsistent: the standard value is BitsStored-1
	}
	mask := uint32(1)<<f.BitsStored - 1
	v := (raw >> shift) & mask
	if f.PixelRepresentation == 1 && v&(1<<(f.BitsStored-1)) != 0 {
		return int(v) - 1<<f.BitsStored
	}
	return int(v)
}

// normalizeStored maps an attribute value that shares the pixel encoding
// (US or SS, e.g. PixelPaddingValue) to a stored value: the library reads
// US -2000 as 63536 and SS -2000 as -2000; both become -2000 when signed.
func (f PixelFormat) normalizeStored(v int) int {
	mask := uint32(1)<<f.BitsStored - 1
	u := uint32(v) & mask
	if f.PixelRepresentation == 1 && u&(1<<(f.BitsStored-1)) != 0 {
		return int(u) - 1<<f.BitsStored
	}
	return int(u)
}

// isPadding reports whether a stored value is padding.
func (f PixelFormat) isPadding(s int) bool {
	if !f.HasPadding {
		return false
	}
	if !f.HasPaddingRangeLimit {
		return s == f.PaddingValue
	}
	lo, hi := f.PaddingValue, f.PaddingRangeLimit
	if lo > hi {
		lo, hi = hi, lo
	}
	return s >= lo && s <= hi
}

// Rescale is the modality LUT of a frame: HU = stored × Slope + Intercept
// (RescaleSlope (0028,1053), RescaleIntercept (0028,1052)).
type Rescale struct {
	Slope, Intercept float64
}

// huLUT maps every raw sample value of a format to HU. Building one costs
// 65,536 conversions; a series usually needs one.
type huLUT struct {
	format  PixelFormat
	rescale Rescale
	table   []int16
}

// newHULUT builds the table for a format and rescale.
func newHULUT(f PixelFormat, r Rescale) *huLUT {
	n := 1 << f.BitsAllocated
	t := make([]int16, n)
	for raw := 0; raw < n; raw++ {
		s := f.stored(uint32(raw))
		if f.isPadding(s) {
			t[raw] = PaddingHU
			continue
		}
		t[raw] = clampHU(math.Round(float64(s)*r.Slope + r.Intercept))
	}
	return &huLUT{format: f, rescale: r, table: t}
}

// matches reports whether the table serves a format and rescale.
func (l *huLUT) matches(f PixelFormat, r Rescale) bool {
	return l != nil && l.format == f && l.rescale == r
}

// convert writes the HU of a native little-endian frame into dst.
func (l *huLUT) convert(frame []byte, dst []int16) error {
	n := len(dst)
	switch l.format.BitsAllocated {
	case 16:
		if len(frame) < 2*n {
			return fmt.Errorf("frame has %d bytes, want %d", len(frame), 2*n)
		}
		for i := range dst {
			dst[i] = l.table[uint16(frame[2*i])|uint16(frame[2*i+1])<<8]
		}
	case 8:
		if len(frame) < n {
			return fmt.Errorf("frame has %d bytes, want %d", len(frame), n)
		}
		for i := range dst {
			dst[i] = l.table[frame[i]]
		}
	default:
		return fmt.Errorf("BitsAllocated %d", l.format.BitsAllocated)
	}
	return nil
}

func clampHU(v float64) int16 {
	switch {
	case math.IsNaN(v):
		return PaddingHU
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}
