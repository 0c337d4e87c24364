package codec

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
)

const csDir = "data/dicom-codecs/cornerstone-ct/CTImage.dcm_"

// maxStoredDiff returns the largest absolute difference between the stored
// values of two decoded frames and the number of differing samples.
func maxStoredDiff(f dicom.PixelFormat, a, b []byte) (maxAbs, n int) {
	sa, sb := stored(f, a), stored(f, b)
	for i := range sa {
		d := sa[i] - sb[i]
		if d < 0 {
			d = -d
		}
		if d != 0 {
			n++
		}
		maxAbs = max(maxAbs, d)
	}
	return maxAbs, n
}

// TestJPEGLossyAgainstDCMTK compares the lossy JPEG decodes with dcmtk's
// dcmdjpeg (libijg8/libijg12, integer IDCT): the 12-bit DCT here is
// floating point, so a difference of 1 in a stored value is allowed.
func TestJPEGLossyAgainstDCMTK(t *testing.T) {
	if _, err := exec.LookPath("dcmdjpeg"); err != nil {
		t.Skip("dcmtk not installed")
	}
	for _, tc := range []struct {
		name, file string
		maxAbs     int
	}{
		{"baseline 8-bit .50 (image/jpeg)", "JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm", 1},
		{"extended 12-bit .51", "JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := testdata.Shared(t, csDir+tc.file)
			ref := filepath.Join(t.TempDir(), "ref.dcm")
			if b, err := exec.Command("dcmdjpeg", "+te", src, ref).CombinedOutput(); err != nil {
				t.Fatalf("dcmdjpeg: %v: %s", err, b)
			}
			o, r := readObject(t, src), readObject(t, ref)
			got, err := JPEGDecoder{}.DecodeFrame(o.px, o.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, err := dicom.NativeDecoder{}.DecodeFrame(r.px, r.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			maxAbs, n := maxStoredDiff(o.format, got, want)
			t.Logf("%d of %d stored values differ from dcmdjpeg's, max %d", n, o.format.Rows*o.format.Columns, maxAbs)
			if maxAbs > tc.maxAbs {
				t.Errorf("max difference %d, want <= %d", maxAbs, tc.maxAbs)
			}
		})
	}
}

// TestDCTAgainstImageJPEG runs the DCT decoder written for 12 bits on the
// 8-bit baseline slice and compares it with Go's image/jpeg, an
// independent implementation (integer IDCT): at most 1 apart.
func TestDCTAgainstImageJPEG(t *testing.T) {
	o := readObject(t, testdata.Shared(t, csDir+"JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm"))
	data := o.px.Fragments[0]
	h, err := parseJPEG(data)
	if err != nil {
		t.Fatal(err)
	}
	d := &jpegDecoding{h: h, f: o.format}
	got, err := d.dct(&bitReader{data: data, pos: h.scanStart})
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.baseline8(data)
	if err != nil {
		t.Fatal(err)
	}
	maxAbs, n := maxStoredDiff(o.format, got, want)
	t.Logf("%d of %d samples differ from image/jpeg, max %d", n, len(got), maxAbs)
	if maxAbs > 1 {
		t.Errorf("max difference %d from image/jpeg, want <= 1", maxAbs)
	}
}
