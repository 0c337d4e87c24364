package codec_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/codec"
	"github.com/mhpnet/node/internal/testdata"
)

// readHU reads one file as a series with the codec decoders (through a
// symbolic link in a temporary folder, so nothing is copied) and returns
// its HU.
func readHU(t testing.TB, path string) ([]int16, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(path, filepath.Join(dir, filepath.Base(path))); err != nil {
		t.Fatal(err)
	}
	s, err := dicom.ReadSeries(context.Background(), dir, dicom.Options{Decoders: codec.Decoders()})
	if err != nil {
		return nil, err
	}
	v, err := s.LoadVolume(context.Background())
	if err != nil {
		return nil, err
	}
	return v.HU, nil
}

// huDiff compares two HU arrays: number of differing voxels, max and mean
// absolute difference.
func huDiff(a, b []int16) (n int, maxAbs int, mean float64) {
	sum := 0.0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		if d != 0 {
			n++
		}
		maxAbs = max(maxAbs, d)
		sum += float64(d)
	}
	return n, maxAbs, sum / float64(len(a))
}

const (
	cornerstone = "data/dicom-codecs/cornerstone-ct/"
	ct0012      = "data/dicom-codecs/ct0012/"
)

// TestDecodeAgainstNativeTwin decodes every variant of the cornerstone CT
// slice and of the CT0012 Enhanced CT through dicom.ReadSeries and compares
// the HU with the uncompressed twin: lossless variants must be identical,
// lossy ones within the bounds stated (measured: see the comments).
func TestDecodeAgainstNativeTwin(t *testing.T) {
	const csPrefix = cornerstone + "CTImage.dcm_"
	tests := []struct {
		name, file, twin string
		// maxAbs and maxMean bound the HU error (0 = lossless, identical).
		maxAbs  int
		maxMean float64
		wantErr error
	}{
		{name: "cornerstone RLE", file: csPrefix + "RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm"},
		{name: "cornerstone JPEG lossless SV6 .57", file: csPrefix + "JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm"},
		{name: "cornerstone JPEG lossless SV1 .70", file: csPrefix + "JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm"},
		{name: "cornerstone JPEG-LS lossless .80", file: csPrefix + "JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm"},
		{name: "cornerstone JPEG 2000 lossless .90", file: csPrefix + "JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm"},
		{name: "cornerstone big endian", file: csPrefix + "BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm"},
		{name: "cornerstone deflated", file: csPrefix + "DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm"},
		// Lossy: measured max 1 / mean 0.694 (JPEG-LS NEAR=1), max 5 / mean 0.571 (J2K .91),
		// max 64 / mean 19.72 (8-bit baseline), max 36 / mean 3.91 (12-bit extended).
		{name: "cornerstone JPEG-LS near-lossless .81", file: csPrefix + "JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm", maxAbs: 1, maxMean: 0.8},
		{name: "cornerstone JPEG 2000 lossy .91", file: csPrefix + "JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm", maxAbs: 6, maxMean: 0.8},
		{name: "cornerstone JPEG baseline 8-bit .50", file: csPrefix + "JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm", maxAbs: 66, maxMean: 20.5},
		{name: "cornerstone JPEG extended 12-bit .51", file: csPrefix + "JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm", maxAbs: 37, maxMean: 4},
		{name: "cornerstone JPEG spectral selection .53 refused", file: csPrefix + "JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm",
			wantErr: dicom.ErrUnsupported},
		{name: "cornerstone JPEG progressive .55 refused", file: csPrefix + "JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm",
			wantErr: dicom.ErrUnsupported},

		{name: "CT0012 RLE with BOT", file: ct0012 + "CT0012.not_fragmented_bot_rle.dcm"},
		{name: "CT0012 RLE without BOT", file: ct0012 + "CT0012.not_fragmented_no_bot_rle.dcm"},
		{name: "CT0012 JPEG-LS with BOT", file: ct0012 + "CT0012.not_fragmented_bot_jpeg_ls.80.dcm"},
		{name: "CT0012 JPEG-LS without BOT", file: ct0012 + "CT0012.not_fragmented_no_bot_jpeg_ls.80.dcm"},
		{name: "CT0012 JPEG-LS fragmented without BOT", file: ct0012 + "CT0012.fragmented_no_bot_jpeg_ls.80.dcm"},
		{name: "CT0012 JPEG lossless .57 fragmented without BOT", file: ct0012 + "CT0012.fragmented_no_bot_jpeg_lossless.57.dcm"},
		{name: "CT0012 JPEG lossless .70 fragmented without BOT", file: ct0012 + "CT0012.fragmented_no_bot_jpeg_lossless.70.dcm"},
		// NEAR=2: measured max 2, mean 0.594.
		{name: "CT0012 JPEG-LS near-lossless fragmented without BOT", file: ct0012 + "CT0012.fragmented_no_bot_jpeg_ls.81.dcm", maxAbs: 2, maxMean: 1.2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			twin := tc.twin
			if twin == "" {
				twin = csPrefix + "LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm"
				if filepath.Dir(tc.file)+"/" == ct0012 {
					twin = ct0012 + "CT0012.explicit_little_endian.dcm"
				}
			}
			want, err := readHU(t, testdata.Shared(t, twin))
			if err != nil {
				t.Fatalf("twin: %v", err)
			}
			got, err := readHU(t, testdata.Shared(t, tc.file))
			if tc.wantErr != nil {
				var ts dicom.ErrUnsupportedTransferSyntax
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &ts) {
					t.Fatalf("err = %v, want %v (ErrUnsupportedTransferSyntax)", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d voxels, twin has %d", len(got), len(want))
			}
			n, maxAbs, mean := huDiff(got, want)
			t.Logf("%d voxels, %d differ, max |ΔHU| %d, mean |ΔHU| %.3f", len(got), n, maxAbs, mean)
			if maxAbs > tc.maxAbs || mean > tc.maxMean {
				t.Errorf("max |ΔHU| %d (limit %d), mean %.3f (limit %.3f)", maxAbs, tc.maxAbs, mean, tc.maxMean)
			}
			if tc.maxAbs > 0 && n == 0 {
				t.Errorf("lossy variant identical to the original: the comparison cannot fail")
			}
		})
	}
}

// TestCT0012BaselineDecodes decodes the 12-bit CT0012 file whose rescale
// was left unchanged by the encoder (README-small §2b): HU are about 1023
// too high, so only the offset is checked.
func TestCT0012BaselineDecodes(t *testing.T) {
	want, err := readHU(t, testdata.Shared(t, ct0012+"CT0012.explicit_little_endian.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readHU(t, testdata.Shared(t, ct0012+"CT0012.fragmented_no_bot_jpeg_baseline.51.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for i := range got {
		sum += float64(got[i]) - float64(want[i])
	}
	mean := sum / float64(len(got))
	t.Logf("mean HU offset %.2f", mean)
	if math.Abs(mean-1023) > 5 {
		t.Errorf("mean offset %.2f HU, want about 1023", mean)
	}
}
