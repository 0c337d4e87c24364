package codec

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gdcmScript decodes each file named on the command line with pydicom's
// GDCM handler only and writes the stored values, as little-endian int32,
// one file after the other, to the path given first.
const gdcmScript = `
import sys, numpy as np, pydicom
from pydicom.pixel_data_handlers import gdcm_handler
pydicom.config.pixel_data_handlers = [gdcm_handler]
with open(sys.argv[1], "wb") as out:
    for p in sys.argv[2:]:
        out.write(pydicom.dcmread(p).pixel_array.astype("<i4").tobytes())
`

// gdcmStored returns the stored values GDCM decodes from files, or skips
// the test when python3-gdcm is not installed.
func gdcmStored(t *testing.T, files ...string) []int {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import gdcm, pydicom, numpy").Run(); err != nil {
		t.Skip("python3-gdcm, python3-pydicom or python3-numpy not installed: no GDCM cross-check")
	}
	out := filepath.Join(t.TempDir(), "gdcm.raw")
	cmd := exec.Command("/usr/bin/python3", append([]string{"-c", gdcmScript, out}, files...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GDCM decode: %v: %s", err, strings.TrimSpace(string(b)))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]int, len(b)/4)
	for i := range v {
		v[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return v
}
