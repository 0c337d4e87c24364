package codec

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// TestTotalSegmentatorJPEG2000 decodes the 20 JPEG 2000 lossless slices of
// the TotalSegmentator example (empty UIDs, so the reader refuses the
// series: the decoder is driven directly on each file's pixel data). The
// stored values must equal GDCM's element-wise (0..2863 over the 20 slices;
// README-small's 0..2460 is the first slice), and the HU must look like CT:
// air peak near -1000 HU, fat peak near -100 HU, soft tissue (the median of
// -200..300 HU) near 40 HU.
func TestTotalSegmentatorJPEG2000(t *testing.T) {
	dir := testdata.Shared(t, "data/totalsegmentator-example/example_ct_dicom")
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 20 {
		t.Fatalf("%d files, want 20", len(names))
	}
	lo, hi := math.MaxInt, math.MinInt
	const off = 2048
	hist := make([]int, 4*off) // HU+off -> count
	var all []int
	var paths []string
	for _, e := range names {
		paths = append(paths, filepath.Join(dir, e.Name()))
		o := readObject(t, paths[len(paths)-1])
		if o.ts != JPEG2000Lossless {
			t.Fatalf("%s: transfer syntax %s", e.Name(), o.ts)
		}
		raw, err := JPEG2000Decoder{}.DecodeFrame(o.px, o.format, 0)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		for _, s := range stored(o.format, raw) {
			lo, hi = min(lo, s), max(hi, s)
			hu := int(math.Round(float64(s)*o.rescale.Slope + o.rescale.Intercept))
			hist[max(0, min(len(hist)-1, hu+off))]++
			all = append(all, s)
		}
	}
	if lo != 0 || hi != 2863 {
		t.Errorf("stored values %d..%d, want 0..2863", lo, hi)
	}
	// peak returns the most frequent HU in [a, b], smoothed over ±10 HU.
	peak := func(a, b int) int {
		best, bestN := 0, -1
		for h := a; h <= b; h++ {
			n := 0
			for d := -10; d <= 10; d++ {
				n += hist[h+d+off]
			}
			if n > bestN {
				best, bestN = h, n
			}
		}
		return best
	}
	// median returns the median HU in [a, b].
	median := func(a, b int) int {
		n := 0
		for h := a; h <= b; h++ {
			n += hist[h+off]
		}
		for h, c := a, 0; h <= b; h++ {
			if c += hist[h+off]; 2*c >= n {
				return h
			}
		}
		return b
	}
	air, fat, soft := peak(-1100, -800), peak(-200, -50), median(-200, 300)
	t.Logf("%d voxels, stored %d..%d, air peak %d HU, fat peak %d HU, median of -200..300 HU %d HU", len(all), lo, hi, air, fat, soft)
	if air < -1050 || air > -950 {
		t.Errorf("air peak at %d HU, want about -1000", air)
	}
	if fat < -130 || fat > -60 {
		t.Errorf("fat peak at %d HU, want about -100", fat)
	}
	if soft < 20 || soft > 70 {
		t.Errorf("soft tissue median %d HU, want about 40", soft)
	}

	ref := gdcmStored(t, paths...)
	if len(ref) != len(all) {
		t.Fatalf("GDCM gives %d values, we %d", len(ref), len(all))
	}
	diff := 0
	for i := range ref {
		if ref[i] != all[i] {
			diff++
		}
	}
	if diff != 0 {
		t.Errorf("%d of %d stored values differ from GDCM's", diff, len(ref))
	}
}
