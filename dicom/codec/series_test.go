package codec_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/codec"
	"github.com/mhpnet/node/internal/testdata"
)

// gdcmJ2K converts files to JPEG 2000 lossless with GDCM's Python binding.
const gdcmJ2K = `
import sys, gdcm
args = sys.argv[1:]
for src, dst in zip(args[::2], args[1::2]):
    r = gdcm.ImageReader(); r.SetFileName(src)
    assert r.Read(), src
    c = gdcm.ImageChangeTransferSyntax()
    c.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEG2000Lossless))
    c.SetInput(r.GetImage())
    assert c.Change(), src
    w = gdcm.ImageWriter(); w.SetFileName(dst); w.SetFile(r.GetFile()); w.SetImage(c.GetOutput())
    assert w.Write(), dst
`

// TestReadSeriesCompressed compresses 12 consecutive IRCAD 1.1 slices with
// dcmtk (and GDCM for JPEG 2000) into a temporary folder per coding, reads
// each folder with dicom.ReadSeries and codec.Decoders(), and requires the
// geometry and every HU to equal the uncompressed series.
func TestReadSeriesCompressed(t *testing.T) {
	src := testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM")
	ctx := context.Background()
	opts := dicom.Options{Decoders: codec.Decoders()}
	orig := t.TempDir()
	var names []string
	for i := 40; i < 52; i++ {
		n := fmt.Sprintf("image_%d", i)
		names = append(names, n)
		if err := os.Symlink(filepath.Join(src, n), filepath.Join(orig, n)); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := dicom.ReadSeries(ctx, orig, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.LoadVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Geometry.Size != [3]int{512, 512, 12} {
		t.Fatalf("original volume %v", want.Geometry.Size)
	}

	tests := []struct {
		name   string
		ts     string
		tool   string
		args   []string
		python string
	}{
		{name: "RLE dcmcrle", ts: codec.RLELossless, tool: "dcmcrle"},
		{name: "JPEG lossless SV1 dcmcjpeg", ts: codec.JPEGLosslessSV1, tool: "dcmcjpeg", args: []string{"+e1"}},
		{name: "JPEG lossless SV4, 8 KiB fragments, empty BOT", ts: codec.JPEGLossless, tool: "dcmcjpeg", args: []string{"+el", "+sv", "4", "+fs", "8", "-ot"}},
		{name: "JPEG-LS lossless dcmcjpls", ts: codec.JPEGLSLossless, tool: "dcmcjpls"},
		{name: "JPEG-LS lossless, 8 KiB fragments, empty BOT", ts: codec.JPEGLSLossless, tool: "dcmcjpls", args: []string{"+fs", "8", "-ot"}},
		{name: "JPEG 2000 lossless GDCM", ts: codec.JPEG2000Lossless, python: gdcmJ2K},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.python != "" {
				if err := exec.Command("/usr/bin/python3", "-c", "import gdcm").Run(); err != nil {
					t.Skip("python3-gdcm not installed")
				}
				args := []string{"-c", tc.python}
				for _, n := range names {
					args = append(args, filepath.Join(src, n), filepath.Join(dir, n))
				}
				if b, err := exec.Command("/usr/bin/python3", args...).CombinedOutput(); err != nil {
					t.Fatalf("GDCM: %v: %s", err, strings.TrimSpace(string(b)))
				}
			} else {
				if _, err := exec.LookPath(tc.tool); err != nil {
					t.Skipf("%s not installed (dcmtk)", tc.tool)
				}
				for _, n := range names {
					args := append(append([]string{}, tc.args...), filepath.Join(src, n), filepath.Join(dir, n))
					if b, err := exec.Command(tc.tool, args...).CombinedOutput(); err != nil {
						t.Fatalf("%s: %v: %s", tc.tool, err, b)
					}
				}
			}
			s, err := dicom.ReadSeries(ctx, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.TransferSyntaxUID != tc.ts {
				t.Fatalf("transfer syntax %s, want %s", s.TransferSyntaxUID, tc.ts)
			}
			got, err := s.LoadVolume(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.Geometry, got.Geometry); diff != "" {
				t.Errorf("geometry (-original +compressed):\n%s", diff)
			}
			if n := countDiff(want.HU, got.HU); n != 0 {
				t.Errorf("ReadSeries: %d of %d voxels differ from the uncompressed series", n, len(want.HU))
			}

			// The streamed path (DICOMweb): pixels decoded as each instance arrives.
			b := dicom.NewSeriesBuilder(opts)
			for _, n := range names {
				f, err := os.Open(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				err = b.AddReader(ctx, n, f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			s, err = b.Scan().Only()
			if err != nil {
				t.Fatal(err)
			}
			got, err = s.LoadVolume(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := countDiff(want.HU, got.HU); n != 0 {
				t.Errorf("SeriesBuilder.AddReader: %d of %d voxels differ from the uncompressed series", n, len(want.HU))
			}
		})
	}
}

// countDiff counts the voxels that differ.
func countDiff(a, b []int16) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
