package dicom

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadDirSymlinkedFolder: a folder given as a symbolic link (a mounted
// export, /data/incoming -> /mnt/...) is read like the folder itself; it was
// reported as "nothing read", and only "link/" with a trailing slash worked.
func TestReadDirSymlinkedFolder(t *testing.T) {
	folder := t.TempDir()
	writeSlices(t, folder, synthSeries("1.2.826.0.1.3680043.2.1125.77", steps(0, 2.5, 4), nil))
	link := filepath.Join(t.TempDir(), "incoming")
	if err := os.Symlink(folder, link); err != nil {
		t.Fatal(err)
	}
	loop := t.TempDir() // links to folders inside the walk are still not followed
	if err := os.Symlink(loop, filepath.Join(loop, "self")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		dir        string
		wantSlices int
	}{
		{"folder", folder, 4},
		{"link to the folder", link, 4},
		{"link with trailing slash", link + string(filepath.Separator), 4},
		{"folder with a link to itself", loop, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := ReadDir(context.Background(), tt.dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, s := range sc.Series {
				got += len(s.Instances)
			}
			if got != tt.wantSlices {
				t.Fatalf("%d slices read, want %d (skipped %v, refused %d)", got, tt.wantSlices, sc.Skipped, len(sc.Refused))
			}
		})
	}
}

// TestReadSeriesRefusalNamesSkippedFiles: when a slice file is truncated
// (an interrupted copy), the series is refused for the gap it leaves, and
// the refusal also names the skipped file, which is the cause to act on; it
// said only "missing slices".
func TestReadSeriesRefusalNamesSkippedFiles(t *testing.T) {
	dir := t.TempDir()
	writeSlices(t, dir, synthSeries("1.2.826.0.1.3680043.2.1125.78", steps(0, 2.5, 5), nil))
	// file_002 holds slice i with (i*7)%5 == 2: i = 1 (z = 2.5), inside the series.
	victim := filepath.Join(dir, "file_002")
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, b[:len(b)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadSeries(context.Background(), dir, Options{})
	var ms ErrMissingSlices
	if !errors.As(err, &ms) || !errors.Is(err, ErrRefused) {
		t.Fatalf("error %v, want ErrMissingSlices and ErrRefused", err)
	}
	if ms.Missing != 1 {
		t.Errorf("missing %d slices, want 1", ms.Missing)
	}
	for _, want := range []string{"missing slices", "1 file(s) skipped", victim, "malformed DICOM"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
