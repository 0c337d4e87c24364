package dicom

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	godicom "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/internal/testdata"
)

// TestInstanceAttributes: impossible or missing attributes give typed
// refusals naming the attribute, before anything is allocated from them.
func TestInstanceAttributes(t *testing.T) {
	tests := []struct {
		name string
		mod  func(s *synthSlice)
		want error
		says string
	}{
		{"Rows beyond the limit", func(s *synthSlice) { s.Rows = 65535 }, ErrInvalid, "Rows (0028,0010)"},
		{"BitsAllocated 32", func(s *synthSlice) { s.BitsAllocated = 32; s.BitsStored = 32 }, ErrInvalid, "BitsAllocated (0028,0100)"},
		{"no ImagePositionPatient", func(s *synthSlice) { s.Drop = []tag.Tag{tag.ImagePositionPatient} }, ErrInvalid, "ImagePositionPatient (0020,0032)"},
		{"no PixelSpacing", func(s *synthSlice) { s.Drop = []tag.Tag{tag.PixelSpacing} }, ErrInvalid, "PixelSpacing (0028,0030)"},
		{"Enhanced CT declaring 8000 frames over 24 bytes", func(s *synthSlice) {
			s.SOPClass = EnhancedCTImageStorage
			s.Extra = []*godicom.Element{mustEl(t, tag.NumberOfFrames, []string{"8000"})}
		}, ErrInvalid, "8000 frame(s) of 4x3 at 16 bits need 192000"},
		{"Enhanced CT declaring 10^9 frames", func(s *synthSlice) {
			s.SOPClass = EnhancedCTImageStorage
			s.Extra = []*godicom.Element{mustEl(t, tag.NumberOfFrames, []string{"1000000000"})}
		}, ErrInvalid, "NumberOfFrames (0028,0008)"},
		{"Enhanced CT without per-frame groups", func(s *synthSlice) {
			s.SOPClass = EnhancedCTImageStorage
			s.Extra = []*godicom.Element{mustEl(t, tag.NumberOfFrames, []string{"1"})}
		}, ErrInvalid, "PerFrameFunctionalGroupsSequence (5200,9230)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := defaultSlice("2.25.50", 0, 0)
			tc.mod(&s)
			b := NewSeriesBuilder(Options{})
			if err := b.AddReader(context.Background(), "p", bytes.NewReader(s.encode(t))); err != nil {
				t.Fatal(err)
			}
			_, err := b.Scan().Only()
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

// TestEnhancedCTFrames reads the per-frame functional groups of CT0012:
// positions per frame, orientation, spacing and rescale from the shared group.
func TestEnhancedCTFrames(t *testing.T) {
	path := testdata.Shared(t, "data/enhanced-ct/CT0012.explicit_little_endian.dcm")
	b := NewSeriesBuilder(Options{})
	if err := b.AddFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	s, err := b.Scan().Only()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		frame int
		ipp   [3]float64
	}{
		// dcmdump: frame 1 at z -159, frame 2 at -149; the normal is -z, so frame 2 comes first.
		{2, [3]float64{99.5, -301.5, -149}}, {1, [3]float64{99.5, -301.5, -159}},
	}
	if len(s.Instances) != len(want) {
		t.Fatalf("%d frames, want 2", len(s.Instances))
	}
	for i, w := range want {
		in := s.Instances[i]
		if in.FrameNumber != w.frame || in.ImagePositionPatient != w.ipp {
			t.Errorf("slice %d: frame %d at %v, want frame %d at %v", i, in.FrameNumber, in.ImagePositionPatient, w.frame, w.ipp)
		}
		if in.ImageOrientationPatient != [6]float64{-1, 0, 0, 0, 1, 0} || in.PixelSpacing != [2]float64{0.388672, 0.388672} ||
			in.SliceThickness != 10 || in.Rescale != (Rescale{1, -1024}) {
			t.Errorf("slice %d: %+v", i, in)
		}
		if len(in.ImageType) != 4 || in.ImageType[3] != "RCBF" {
			t.Errorf("FrameType %v", in.ImageType)
		}
	}
}
