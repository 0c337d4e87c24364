package seg

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mhpnet/node/volume"
)

// pythonPath is Debian's python3, which has pydicom and numpy (the python3
// on PATH may be a pyenv shim without them).
const pythonPath = "/usr/bin/python3"

// readbackResult is what testdata/readback.py prints.
type readbackResult struct {
	Frames           int            `json:"frames"`
	FramesPerSegment map[string]int `json:"frames_per_segment"`
	Voxels           map[string]int `json:"voxels"`
	DiffVoxels       int            `json:"diff_voxels"`
	Errors           []string       `json:"errors"`
}

// pydicomReadback runs testdata/readback.py on the SEG at segPath against
// the label volume and returns its verdict.
func pydicomReadback(t *testing.T, segPath string, src Source, lv *volume.LabelVolume, segs []Segment) readbackResult {
	t.Helper()
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not installed (Debian python3-pydicom): %v", pythonPath, err)
	}
	dir := t.TempDir()
	labelsPath := filepath.Join(dir, "labels.raw")
	if err := os.WriteFile(labelsPath, lv.Labels, 0o644); err != nil {
		t.Fatal(err)
	}
	type slice struct {
		UID   string     `json:"uid"`
		Frame int        `json:"frame,omitempty"`
		IPP   [3]float64 `json:"ipp"`
	}
	manifest := struct {
		Seg       string           `json:"seg"`
		Labels    string           `json:"labels"`
		Size      [3]int           `json:"size"`
		SeriesUID string           `json:"series_uid"`
		Slices    []slice          `json:"slices"`
		Segments  map[string][]int `json:"segments"`
	}{Seg: segPath, Labels: labelsPath, Size: lv.Size, SeriesUID: src.SeriesInstanceUID, Segments: map[string][]int{}}
	for _, s := range src.Slices {
		manifest.Slices = append(manifest.Slices, slice{s.SOPInstanceUID, s.FrameNumber, s.ImagePositionPatient})
	}
	for _, s := range segs {
		for _, l := range s.Labels {
			manifest.Segments[strconv.Itoa(s.Number)] = append(manifest.Segments[strconv.Itoa(s.Number)], int(l))
		}
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(mpath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pythonPath, "testdata/readback.py", mpath).CombinedOutput()
	if err != nil {
		t.Fatalf("readback.py: %v\n%s", err, out)
	}
	var res readbackResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("readback.py output %q: %v", out, err)
	}
	return res
}

// dciodvfy runs dciodvfy on path and returns its error and warning lines.
func dciodvfy(t *testing.T, path string) (errs, warns []string) {
	t.Helper()
	bin, err := exec.LookPath("dciodvfy")
	if err != nil {
		t.Skipf("dciodvfy not installed (Debian dicom3tools): %v", err)
	}
	out, _ := exec.Command(bin, "-new", path).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "Error"):
			errs = append(errs, l)
		case strings.HasPrefix(l, "Warning"):
			warns = append(warns, l)
		}
	}
	return errs, warns
}

// dcmdumpWarnings runs dcmdump and returns every line it prints on stderr
// or marks as a warning or error.
func dcmdumpWarnings(t *testing.T, path string) []string {
	t.Helper()
	bin, err := exec.LookPath("dcmdump")
	if err != nil {
		t.Skipf("dcmdump not installed (Debian dcmtk): %v", err)
	}
	cmd := exec.Command(bin, "-dc", "+L", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return []string{"dcmdump failed: " + err.Error() + ": " + stderr.String()}
	}
	var w []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			w = append(w, l)
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "W:") || strings.HasPrefix(l, "E:") {
			w = append(w, l)
		}
	}
	return w
}
