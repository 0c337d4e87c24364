package dicom

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/volume"
)

// huRange returns the smallest and largest HU, ignoring PaddingHU when
// skipPadding is set.
func huRange(v *volume.Volume) (lo, hi int16) {
	lo, hi = math.MaxInt16, math.MinInt16
	for _, h := range v.HU {
		lo, hi = min(lo, h), max(hi, h)
	}
	return lo, hi
}

// TestReadSeriesReal reads the real CT series and checks the figures of
// /work/shared/data/README-ct.md and README-small.md.
func TestReadSeriesReal(t *testing.T) {
	tests := []struct {
		name        string
		dir         func(t *testing.T) string
		slices      int
		size        [3]int
		spacing     [3]float64
		origin      [3]float64
		lastZ       float64
		huMin       int16
		huMax       int16
		ts          string
		checkVolume func(t *testing.T, s *Series, v *volume.Volume)
	}{
		{
			name:    "IRCAD 1.1",
			dir:     func(t *testing.T) string { return testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM") },
			slices:  129,
			size:    [3]int{512, 512, 129},
			spacing: [3]float64{0.570, 0.570, 1.6},
			origin:  [3]float64{0, 0, 0},
			lastZ:   204.8,
			huMin:   -1024, huMax: 1023,
			ts: ExplicitVRLittleEndian,
			checkVolume: func(t *testing.T, s *Series, v *volume.Volume) {
				// image_N is slice N (README-ct.md): lexical file order would put image_10 second.
				for z, in := range s.Instances {
					if want := "image_" + strconv.Itoa(z); filepath.Base(in.Path) != want {
						t.Fatalf("slice %d is %s, want %s", z, filepath.Base(in.Path), want)
					}
				}
				if s.FrameOfReferenceUID != "" {
					t.Errorf("FrameOfReferenceUID %q, IRCAD has none", s.FrameOfReferenceUID)
				}
			},
		},
		{
			name:    "IRCAD 1.17",
			dir:     func(t *testing.T) string { return testdata.CT(t, "ircadb/3Dircadb1.17/PATIENT_DICOM") },
			slices:  119,
			size:    [3]int{512, 512, 119},
			spacing: [3]float64{0.743, 0.743, 1.6},
			lastZ:   188.8,
			huMin:   -1024, huMax: 1023,
			ts: ExplicitVRLittleEndian,
		},
		{
			name:    "CRLM-CT-1004: file order is z descending, padding -2000 raw",
			dir:     func(t *testing.T) string { return testdata.CT(t, "ct/crlm-ct-1004") },
			slices:  41,
			size:    [3]int{512, 512, 41},
			spacing: [3]float64{0.796875, 0.796875, 5},
			lastZ:   -175,
			huMin:   -1024, huMax: 1377, // padding maps to -1024, never -3024
			ts: ExplicitVRLittleEndian,
			checkVolume: func(t *testing.T, s *Series, v *volume.Volume) {
				if s.Instances[0].ImagePositionPatient[2] != -375 {
					t.Errorf("first z %v, want -375", s.Instances[0].ImagePositionPatient[2])
				}
				if filepath.Base(s.Instances[0].Path) != "1-41.dcm" || filepath.Base(s.Instances[40].Path) != "1-01.dcm" {
					t.Errorf("slice 0 = %s, slice 40 = %s; want 1-41.dcm and 1-01.dcm", s.Instances[0].Path, s.Instances[40].Path)
				}
				if !s.Instances[0].Format.HasPadding || s.Instances[0].Format.PaddingValue != -2000 {
					t.Errorf("padding %+v, want -2000", s.Instances[0].Format)
				}
				// README-ct.md: 2,286,652 padding voxels, now all PaddingHU.
				n := 0
				for _, h := range v.HU {
					if h == PaddingHU {
						n++
					}
				}
				if n < 2286652 {
					t.Errorf("%d voxels at %d HU, want at least the 2,286,652 padding voxels", n, PaddingHU)
				}
			},
		},
		{
			name:    "dcmqi 3-slice CT (implicit VR)",
			dir:     func(t *testing.T) string { return testdata.Shared(t, "data/dcmqi/ct-3slice") },
			slices:  3,
			size:    [3]int{512, 512, 3},
			spacing: [3]float64{0.810547, 0.810547, 1},
			lastZ:   -126.69,
			huMin:   -1024, huMax: 1381,
			ts: ImplicitVRLittleEndian,
		},
		{
			name:    "Enhanced CT multi-frame (CT0012)",
			dir:     func(t *testing.T) string { return oneFileDir(t, "data/enhanced-ct/CT0012.explicit_little_endian.dcm") },
			slices:  2,
			size:    [3]int{512, 512, 2},
			spacing: [3]float64{0.388672, 0.388672, 10},
			lastZ:   -159,              // normal is -z (row direction -x): z decreases along the stack
			huMin:   -1024, huMax: 172, // stored 0..1196, shared rescale -1024
			ts: ExplicitVRLittleEndian,
			checkVolume: func(t *testing.T, s *Series, v *volume.Volume) {
				if s.SOPClassUID != EnhancedCTImageStorage {
					t.Errorf("SOP class %s", s.SOPClassUID)
				}
				for z, in := range s.Instances {
					if in.FrameNumber < 1 || in.SOPInstanceUID != s.Instances[0].SOPInstanceUID || in.Rescale != (Rescale{1, -1024}) {
						t.Errorf("slice %d: frame %d, rescale %+v", z, in.FrameNumber, in.Rescale)
					}
				}
				if s.Geometry.Direction[2] != [3]float64{0, 0, -1} {
					t.Errorf("normal %v, want (0,0,-1)", s.Geometry.Direction[2])
				}
			},
		},
		{
			name: "Legacy Converted Enhanced CT, 3 frames of 23x38",
			dir: func(t *testing.T) string {
				return oneFileDir(t, "data/enhanced-ct/dcmqi-23x38x3-legacy-converted-mf.dcm")
			},
			slices:  3,
			size:    [3]int{23, 38, 3},
			spacing: [3]float64{0.7, 0.7, 2.5},
			lastZ:   -172.75,
			huMin:   0, huMax: 1,
			ts: ExplicitVRLittleEndian,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := ReadSeries(ctx, tc.dir(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			g := s.Geometry
			if len(s.Instances) != tc.slices || g.Size != tc.size {
				t.Fatalf("%d slices, size %v; want %d, %v", len(s.Instances), g.Size, tc.slices, tc.size)
			}
			for a := range 3 {
				if math.Abs(g.Spacing[a]-tc.spacing[a]) > 1e-3 {
					t.Errorf("spacing %v, want %v", g.Spacing, tc.spacing)
					break
				}
			}
			if tc.origin != ([3]float64{}) && g.Origin != tc.origin {
				t.Errorf("origin %v, want %v", g.Origin, tc.origin)
			}
			if last := s.Instances[len(s.Instances)-1].ImagePositionPatient[2]; math.Abs(last-tc.lastZ) > 1e-3 {
				t.Errorf("last slice z %v, want %v", last, tc.lastZ)
			}
			if s.TransferSyntaxUID != tc.ts {
				t.Errorf("transfer syntax %s, want %s", s.TransferSyntaxUID, tc.ts)
			}
			if s.Header == nil || len(s.Header.Elements) == 0 {
				t.Fatal("no header")
			}
			for _, el := range s.Header.Elements {
				if el.Tag == tag.PixelData {
					t.Errorf("header holds %v: pixel data must be stripped", el.Tag)
				}
			}
			v, err := s.LoadVolume(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if lo, hi := huRange(v); lo != tc.huMin || hi != tc.huMax {
				t.Errorf("HU range %d..%d, want %d..%d", lo, hi, tc.huMin, tc.huMax)
			}
			if tc.checkVolume != nil {
				tc.checkVolume(t, s, v)
			}
		})
	}
}

// oneFileDir links one shared file into a temporary folder.
func oneFileDir(t *testing.T, rel string) string {
	t.Helper()
	src := testdata.Shared(t, rel)
	dir := t.TempDir()
	if err := os.Symlink(src, filepath.Join(dir, filepath.Base(src))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCornerstoneTransferSyntaxes reads the same CT slice in every encoding:
// the native ones give identical HU, the compressed ones the typed refusal
// naming the syntax.
func TestCornerstoneTransferSyntaxes(t *testing.T) {
	dir := testdata.Shared(t, "data/dicom-codecs/cornerstone-ct")
	ref := loadOne(t, filepath.Join(dir, "CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm"))
	if lo, hi := huRange(ref); lo != -2000-1024 || hi != 2402-1024 {
		// Stored -2000..2402, intercept -1024. The -2000 outside the circle is
		// not the declared PixelPaddingValue (-32768), so it stays -3024 HU.
		t.Errorf("reference HU %d..%d, want %d..%d", lo, hi, -2000-1024, 2402-1024)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]bool{ImplicitVRLittleEndian: true, ExplicitVRLittleEndian: true,
		ExplicitVRBigEndian: true, DeflatedExplicitVRLittleEndian: true}
	seen := 0
	for _, e := range entries {
		name := e.Name()
		ts := ImplicitVRLittleEndian // CTImage.dcm without suffix
		if i := strings.LastIndex(name, "_"); i > 0 {
			ts = strings.TrimSuffix(name[i+1:], ".dcm")
		}
		t.Run(name, func(t *testing.T) {
			b := NewSeriesBuilder(Options{})
			if err := b.AddFile(context.Background(), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			s, err := b.Scan().Only()
			if !native[ts] {
				var e ErrUnsupportedTransferSyntax
				if !errors.As(err, &e) || e.UID != ts || e.Name != TransferSyntaxName(ts) || !errors.Is(err, ErrRefused) {
					t.Fatalf("err = %v, want ErrUnsupportedTransferSyntax{%s}", err, ts)
				}
				if !strings.Contains(err.Error(), ts) || !strings.Contains(err.Error(), e.Name) || e.Name == "unknown transfer syntax" {
					t.Errorf("message %q should name %s and its name", err, ts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.TransferSyntaxUID != ts {
				t.Errorf("transfer syntax %s, want %s", s.TransferSyntaxUID, ts)
			}
			v, err := s.LoadVolume(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i := range ref.HU {
				if v.HU[i] != ref.HU[i] {
					t.Fatalf("voxel %d = %d, explicit LE gives %d", i, v.HU[i], ref.HU[i])
				}
			}
			seen++
		})
	}
	if seen != 5 {
		t.Errorf("%d native files compared, want 5 (2 implicit, explicit, big endian, deflated)", seen)
	}
}

func loadOne(t *testing.T, path string) *volume.Volume {
	t.Helper()
	b := NewSeriesBuilder(Options{})
	if err := b.AddFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	s, err := b.Scan().Only()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.LoadVolume(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTotalSegmentatorRefused: every identifying UID is empty, and the
// error names them (before the JPEG 2000 transfer syntax is considered).
func TestTotalSegmentatorRefused(t *testing.T) {
	dir := testdata.Shared(t, "data/totalsegmentator-example/example_ct_dicom")
	_, err := ReadSeries(context.Background(), dir, Options{})
	var e ErrMissingUID
	if !errors.As(err, &e) || !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrMissingUID", err)
	}
	if e.Tag != "StudyInstanceUID (0020,000D)" || len(e.Others) != 2 {
		t.Errorf("Tag %q Others %v", e.Tag, e.Others)
	}
	for _, want := range []string{"StudyInstanceUID (0020,000D)", "SeriesInstanceUID (0020,000E)", "SOPInstanceUID (0008,0018)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %s", err, want)
		}
	}
}

// TestDicomBad reads each malformed or odd file alone: a typed error or a
// skip reason, never a panic.
func TestDicomBad(t *testing.T) {
	dir := testdata.Shared(t, "data/dicom-bad")
	tests := []struct {
		file string
		// wantErr is the class of ReadSeries' error; want names the typed error.
		wantErr error
		want    any
		reason  string // expected substring of the skip reason, if skipped
	}{
		{"CT_small.dcm", nil, nil, ""},
		{"MR_truncated.dcm", ErrInvalid, ErrNoPixelData{}, "declares 8192 bytes but only 8130 remain"},
		{"rtplan_truncated.dcm", ErrInvalid, ErrNoPixelData{}, "declares 976 bytes"},
		{"no_meta.dcm", ErrInvalid, ErrNoPixelData{}, "not a DICOM Part 10 file"},
		{"ExplVR_LitEndNoMeta.dcm", ErrInvalid, ErrNoPixelData{}, "not a DICOM Part 10 file"},
		{"meta_missing_tsyntax.dcm", ErrInvalid, ErrNoPixelData{}, "no TransferSyntaxUID (0002,0010)"},
		{"no_meta_group_length.dcm", ErrInvalid, ErrNoPixelData{}, "non-image object"},
		{"badVR.dcm", ErrUnsupported, ErrNotCT{}, ""},
		{"UN_sequence.dcm", ErrInvalid, ErrNoPixelData{}, "undefined length"},
		{"priv_SQ.dcm", ErrInvalid, ErrNoPixelData{}, "non-image object"},
		{"nested_priv_SQ.dcm", ErrInvalid, ErrMissingUID{}, ""},
		{"SC_rgb_small_odd.dcm", ErrInvalid, ErrNoPixelData{}, "secondary capture"},
		{"MR_small_padded.dcm", ErrUnsupported, ErrNotCT{}, ""},
		{"JPEG2000-embedded-sequence-delimiter.dcm", ErrInvalid, ErrNoPixelData{}, "secondary capture"},
		{"empty_charset_LEI.dcm", ErrInvalid, ErrNoPixelData{}, "non-image object"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b := NewSeriesBuilder(Options{})
			if err := b.AddFile(context.Background(), filepath.Join(dir, tc.file)); err != nil {
				t.Fatal(err)
			}
			sc := b.Scan()
			s, err := sc.Only()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.LoadVolume(context.Background()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want class %v", err, tc.wantErr)
			}
			switch tc.want.(type) {
			case ErrNoPixelData:
				var e ErrNoPixelData
				if !errors.As(err, &e) {
					t.Errorf("err = %v, want ErrNoPixelData", err)
				}
			case ErrNotCT:
				var e ErrNotCT
				if !errors.As(err, &e) {
					t.Errorf("err = %v, want ErrNotCT", err)
				}
			case ErrMissingUID:
				var e ErrMissingUID
				if !errors.As(err, &e) {
					t.Errorf("err = %v, want ErrMissingUID", err)
				}
			}
			if tc.reason != "" {
				if len(sc.Skipped) != 1 || !strings.Contains(sc.Skipped[0].Reason, tc.reason) {
					t.Errorf("skipped %v, want a reason with %q", sc.Skipped, tc.reason)
				}
			}
		})
	}
}
