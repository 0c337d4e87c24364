package dicom

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// TestBuilderStreamMatchesFiles streams CRLM-CT-1004 part by part (as
// WADO-RS delivers it) and checks the volume equals the one read from
// files, and that LoadVolume hands over the decoded pixels without a copy.
func TestBuilderStreamMatchesFiles(t *testing.T) {
	ctx := context.Background()
	dir := testdata.CT(t, "ct/crlm-ct-1004")
	fromFiles, err := ReadSeries(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := fromFiles.LoadVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names) // 1-01 .. 1-41: z descending, the order must not matter
	b := NewSeriesBuilder(Options{ExpectedFrames: len(names)})
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddReader(ctx, n, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Scan().Only()
	if err != nil {
		t.Fatal(err)
	}
	if s.Geometry != fromFiles.Geometry {
		t.Fatalf("geometry %+v, files give %+v", s.Geometry, fromFiles.Geometry)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := s.LoadVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	volBytes := uint64(2 * len(got.HU))
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > volBytes/10 {
		t.Errorf("LoadVolume allocated %d bytes for a %d-byte volume: the pixels were copied", alloc, volBytes)
	}
	for i := range want.HU {
		if got.HU[i] != want.HU[i] {
			t.Fatalf("voxel %d = %d, files give %d", i, got.HU[i], want.HU[i])
		}
	}
	again, err := s.LoadVolume(ctx)
	if err != nil || again != got {
		t.Errorf("second LoadVolume = %p, %v; want the same volume %p", again, err, got)
	}
}

// TestBuilderDuplicatesAndMixedSources: the same instance sent twice is
// skipped once; files and streamed parts combine in one series.
func TestBuilderDuplicatesAndMixedSources(t *testing.T) {
	ctx := context.Background()
	slices := synthSeries("2.25.60", steps(0, 2.5, 4), nil)
	dir := t.TempDir()
	writeSlices(t, dir, slices[:2])
	b := NewSeriesBuilder(Options{})
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := b.AddFile(ctx, filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range append(slices[2:], slices[3]) {
		if err := b.AddReader(ctx, "part-"+s.SOP, bytes.NewReader(s.encode(t))); err != nil {
			t.Fatal(err)
		}
	}
	sc := b.Scan()
	if len(sc.Skipped) != 1 || !strings.Contains(sc.Skipped[0].Reason, "already read") {
		t.Errorf("skipped %+v, want the duplicate", sc.Skipped)
	}
	s, err := sc.Only()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.LoadVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	L := 12
	for z := range 4 {
		// defaultSlice: stored 1000+10*i+j, intercept -1024.
		if got, want := v.HU[z*L+5], int16(1000+10*z+5-1024); got != want {
			t.Errorf("slice %d voxel 5 = %d, want %d", z, got, want)
		}
	}
	if err := b.AddReader(ctx, "late", bytes.NewReader(slices[0].encode(t))); err == nil {
		t.Error("AddReader after Scan succeeded")
	}
}

// BenchmarkReadSeries reads and decodes IRCAD 1.1 (129 slices of 512×512).
func BenchmarkReadSeries(b *testing.B) {
	dir := testdata.CT(b, "ircadb/3Dircadb1.1/PATIENT_DICOM")
	ctx := context.Background()
	var voxels int
	for b.Loop() {
		s, err := ReadSeries(ctx, dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		v, err := s.LoadVolume(ctx)
		if err != nil {
			b.Fatal(err)
		}
		voxels = len(v.HU)
	}
	b.ReportMetric(float64(voxels)*float64(b.N)/b.Elapsed().Seconds(), "voxels/s")
}
