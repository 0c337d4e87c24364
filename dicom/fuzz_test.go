package dicom

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// fuzzSeedDirs hold the real files the fuzzer starts from (read in place,
// never copied into the repository).
var fuzzSeedDirs = []string{
	"data/dicom-bad",
	"data/dicom-codecs/cornerstone-ct",
	"data/dicom-codecs/ct0012",
	"data/dcmqi/ct-3slice",
	"data/enhanced-ct",
}

// FuzzReadInstance feeds arbitrary bytes through the whole reading path of
// one streamed instance: structure check, parse, classification, pixel
// decoding, stacking and LoadVolume. It must never panic, and whatever it
// allocates is bounded by the input (a volume never has more voxels than
// the input has bytes).
//
//	go test -fuzz=FuzzReadInstance -fuzztime=2m ./dicom
func FuzzReadInstance(f *testing.F) {
	for _, rel := range fuzzSeedDirs {
		dir := filepath.Join(testdata.SharedDir(), rel)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // seeds are a bonus; testdata/fuzz holds the regressions
		}
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && len(b) <= 2<<20 {
				f.Add(b)
			}
		}
	}
	f.Add(defaultSlice("2.25.99", 0, 0).encode(f))
	for _, h := range hostileObjects(f) {
		f.Add(h.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readFuzz(t, data)
	})
}

func readFuzz(t *testing.T, data []byte) {
	// Smaller bounds than the defaults keep each run short; the defaults
	// only scale the same linear costs.
	b := NewSeriesBuilder(Options{MaxInstanceBytes: 16 << 20, MaxElements: 1 << 14})
	if err := b.AddReader(context.Background(), "fuzz", bytes.NewReader(data)); err != nil {
		t.Fatalf("AddReader on a bytes.Reader: %v", err)
	}
	sc := b.Scan()
	for _, r := range sc.Refused {
		if r.Err == nil {
			t.Fatal("refusal without error")
		}
	}
	for _, s := range sc.Series {
		limit := len(data)
		if s.TransferSyntaxUID == DeflatedExplicitVRLittleEndian {
			limit = 16 << 20 // inflated size, bounded by MaxInstanceBytes
		}
		if n := s.Geometry.Len(); n > limit {
			t.Fatalf("geometry %v has %d voxels from %d input bytes", s.Geometry.Size, n, len(data))
		}
		v, err := s.LoadVolume(context.Background())
		if err != nil {
			continue
		}
		if len(v.HU) != s.Geometry.Len() {
			t.Fatalf("volume of %d voxels for geometry %v", len(v.HU), s.Geometry.Size)
		}
	}
}
