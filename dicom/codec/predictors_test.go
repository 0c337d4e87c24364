package codec

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
)

// TestJPEGLosslessPredictors encodes one IRCAD slice with dcmcjpeg using
// each lossless predictor (selection values 1..7, T.81 Table H.1) and two
// point transforms, and requires the decoded samples to equal the
// original's (with the low Pt bits cleared, as the encoder drops them).
func TestJPEGLosslessPredictors(t *testing.T) {
	if _, err := exec.LookPath("dcmcjpeg"); err != nil {
		t.Skip("dcmtk not installed")
	}
	src := filepath.Join(testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM"), "image_60")
	o := readObject(t, src)
	want, err := dicom.NativeDecoder{}.DecodeFrame(o.px, o.format, 0)
	if err != nil {
		t.Fatal(err)
	}
	type variant struct{ sv, pt int }
	var vs []variant
	for sv := 1; sv <= 7; sv++ {
		vs = append(vs, variant{sv, 0})
	}
	vs = append(vs, variant{1, 2}, variant{7, 3})
	dir := t.TempDir()
	for _, v := range vs {
		t.Run(fmt.Sprintf("SV%d Pt%d", v.sv, v.pt), func(t *testing.T) {
			dst := filepath.Join(dir, fmt.Sprintf("sv%d_pt%d.dcm", v.sv, v.pt))
			if b, err := exec.Command("dcmcjpeg", "+el", "+sv", fmt.Sprint(v.sv), "+pt", fmt.Sprint(v.pt), src, dst).CombinedOutput(); err != nil {
				t.Fatalf("dcmcjpeg: %v: %s", err, b)
			}
			c := readObject(t, dst)
			if c.ts != JPEGLossless {
				t.Fatalf("transfer syntax %s", c.ts)
			}
			got, err := JPEGDecoder{}.DecodeFrame(c.px, c.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			mask := ^uint16(1<<v.pt - 1)
			n := 0
			for i := 0; i < len(want); i += 2 {
				w := (uint16(want[i]) | uint16(want[i+1])<<8) & mask
				g := uint16(got[i]) | uint16(got[i+1])<<8
				if w != g {
					n++
				}
			}
			if n != 0 {
				t.Errorf("%d of %d samples differ", n, len(want)/2)
			}
		})
	}
}
