package dicom

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestErrorClasses: every typed error is a refusal of exactly one class,
// survives wrapping, and its message carries its data.
func TestErrorClasses(t *testing.T) {
	classes := []error{ErrGeometry, ErrUnsupported, ErrInvalid, ErrAmbiguous}
	tests := []struct {
		err   error
		class error
		says  []string
	}{
		{ErrGantryTilt{Degrees: 15.25}, ErrGeometry, []string{"15.25°"}},
		{ErrMissingSlices{After: 7, AfterSOPInstanceUID: "1.2.3", AfterPosition: 12.5, Gap: 5, Spacing: 2.5, Missing: 1, Gaps: 2},
			ErrGeometry, []string{"after slice 7", "1.2.3", "12.500 mm", "gap of 5 mm", "2 gaps"}},
		{ErrNonUniformSpacing{Min: 1, Max: 3, Median: 2, At: 4, Step: 3}, ErrGeometry, []string{"step 3 mm after slice 4", "median is 2 mm"}},
		{ErrMixedGeometry{Attribute: "Rows (0028,0010)", First: "512", Other: "256", SOPInstanceUID: "9.9"}, ErrGeometry,
			[]string{"Rows (0028,0010) is 512", "256 in instance 9.9"}},
		{ErrDuplicatePosition{Position: -3, SOPInstanceUIDs: [2]string{"a.1", "a.2"}}, ErrGeometry, []string{"-3.000 mm", "a.1", "a.2"}},
		{ErrSeveralSeries{UIDs: []string{"1.1", "1.2"}}, ErrAmbiguous, []string{"2 usable CT series", "1.1, 1.2"}},
		{ErrNoPixelData{SOPInstanceUID: "5.5", Path: "f"}, ErrInvalid, []string{"5.5", "Pixel Data (7FE0,0010)"}},
		{ErrNotCT{Modality: "MR", SOPClassUID: "1.2.840.10008.5.1.4.1.1.4"}, ErrUnsupported, []string{`"MR"`, "MR Image Storage"}},
		{ErrUnsupportedTransferSyntax{UID: "1.2.840.10008.1.2.4.90", Name: TransferSyntaxName("1.2.840.10008.1.2.4.90")}, ErrUnsupported,
			[]string{"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)"}},
		{ErrMissingUID{Tag: "SeriesInstanceUID (0020,000E)", Path: "x"}, ErrInvalid, []string{"SeriesInstanceUID (0020,000E)"}},
		{ErrMalformed{Path: "p", Reason: "r", Err: errors.New("inner")}, ErrInvalid, []string{"malformed DICOM p: r: inner"}},
		{ErrInvalidAttribute{Attribute: "BitsAllocated (0028,0100)", Value: "32", Want: "8 or 16", Path: "p"}, ErrInvalid,
			[]string{`BitsAllocated (0028,0100) is "32", want 8 or 16`}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%T", tc.err), func(t *testing.T) {
			wrapped := fmt.Errorf("series 1.2: %w", tc.err)
			if !errors.Is(wrapped, ErrRefused) {
				t.Error("not a refusal")
			}
			for _, c := range classes {
				if got := errors.Is(wrapped, c); got != (c == tc.class) {
					t.Errorf("errors.Is(%v) = %v", c, got)
				}
			}
			for _, s := range tc.says {
				if !strings.Contains(wrapped.Error(), s) {
					t.Errorf("message %q lacks %q", wrapped, s)
				}
			}
		})
	}
	var tilt ErrGantryTilt
	if !errors.As(fmt.Errorf("x: %w", ErrGantryTilt{Degrees: 3}), &tilt) || tilt.Degrees != 3 {
		t.Errorf("errors.As lost the angle: %+v", tilt)
	}
}
