package seg

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// naivePack is the definition of PS3.5 8.1.1 written out bit by bit.
func naivePack(nbits int, bit func(i int) bool) []byte {
	out := make([]byte, packedLen(nbits))
	for i := 0; i < nbits; i++ {
		if bit(i) {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out
}

func TestPackBitsMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	member := memberTable([]uint8{2, 5})
	tests := []struct {
		name          string
		frames, plane int
	}{
		{"23x38 three frames", 3, 23 * 38},
		{"511x511 two frames", 2, 511 * 511},
		{"one voxel frames", 17, 1},
		{"seven voxel frames", 9, 7},
		{"byte aligned", 4, 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vox := make([]uint8, tc.frames*tc.plane)
			for i := range vox {
				vox[i] = uint8(rng.IntN(7))
			}
			got := make([]byte, packedLen(len(vox)))
			for f := 0; f < tc.frames; f++ {
				packBits(got, f*tc.plane, vox[f*tc.plane:(f+1)*tc.plane], member)
			}
			want := naivePack(len(vox), func(i int) bool { return vox[i] == 2 || vox[i] == 5 })
			if !bytes.Equal(got, want) {
				t.Fatalf("packed bytes differ from the naive packing")
			}
			if len(got)%2 != 0 {
				t.Errorf("length %d is odd", len(got))
			}
			back := make([]uint8, tc.plane)
			for f := 0; f < tc.frames; f++ {
				unpackBits(back, got, f*tc.plane)
				for i, b := range back {
					w := member[vox[f*tc.plane+i]]
					if b != w {
						t.Fatalf("frame %d pixel %d = %d, want %d", f, i, b, w)
					}
				}
			}
		})
	}
}

func TestPackedLen(t *testing.T) {
	for _, tc := range []struct{ bits, want int }{{0, 0}, {1, 2}, {8, 2}, {16, 2}, {17, 4}, {3 * 874, 328}, {2 * 261121, 65282}} {
		if got := packedLen(tc.bits); got != tc.want {
			t.Errorf("packedLen(%d) = %d, want %d", tc.bits, got, tc.want)
		}
	}
}

// TestReadDcmqiOddFrames reads dcmqi's 38×23×3 SEG, whose frames start
// mid-byte (874 bits each), checks the per-frame counts against numpy's
// LSB-first unpacking, and repacks the frames to the same bytes.
func TestReadDcmqiOddFrames(t *testing.T) {
	path := testdata.Shared(t, "data/seg-reference/dcmqi/23x38x3/label.seg")
	sg, err := ReadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if sg.Rows != 38 || sg.Columns != 23 || len(sg.Frames) != 3 {
		t.Fatalf("read %dx%d, %d frames; want 38x23, 3", sg.Rows, sg.Columns, len(sg.Frames))
	}
	var counts []int
	repacked := make([]byte, packedLen(3*874))
	member := memberTable([]uint8{1})
	for i := range sg.Frames {
		f, err := sg.Frame(i)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range f {
			n += int(v)
		}
		counts = append(counts, n)
		packBits(repacked, i*874, f, member)
	}
	raw := sg.PackedPixelData()
	if len(raw) != 328 || !bytes.Equal(repacked, raw) {
		t.Errorf("repacked frames differ from the file's %d bytes", len(raw))
	}
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("no %s for the numpy cross-check", pythonPath)
	}
	script := `import sys, json, numpy as np, pydicom
ds = pydicom.dcmread(sys.argv[1])
bits = np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little")[:3*874].reshape(3, 874)
print(json.dumps([int(b.sum()) for b in bits]))`
	out, err := exec.Command(pythonPath, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var want []int
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if len(want) != 3 || want[0]+want[1]+want[2] == 0 {
		t.Fatalf("numpy counts %v: the fixture should have foreground", want)
	}
	for i := range want {
		if counts[i] != want[i] {
			t.Errorf("frame %d: %d pixels set, numpy says %d", i+1, counts[i], want[i])
		}
	}
}

func BenchmarkPackBits(b *testing.B) {
	// One 512×512×128 study, liver labels in a third of the voxels, packed
	// at an odd bit offset (the slow path of a mid-byte frame start is the
	// first partial byte only).
	const plane, nz = 512 * 512, 128
	vox := make([]uint8, plane*nz)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range vox {
		vox[i] = uint8(rng.IntN(3))
	}
	member := memberTable([]uint8{1, 2})
	dst := make([]byte, packedLen(len(vox)+3))
	b.SetBytes(int64(len(vox)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(dst)
		for z := 0; z < nz; z++ {
			packBits(dst, 3+z*plane, vox[z*plane:(z+1)*plane], member)
		}
	}
	b.ReportMetric(float64(len(vox))*float64(b.N)/b.Elapsed().Seconds(), "voxels/s")
}

// BenchmarkEncode encodes a synthetic 512×512×128 study with a liver and a
// tumor (the size of IRCAD 1.1) to io.Discard.
func BenchmarkEncode(b *testing.B) {
	src := synthSource(b, 512, 512, 128)
	lv := sphereLabels(b, src.Geometry, false)
	segs, err := NodeSegments("bench")
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{ModelVersion: "bench", ContentTime: fixedTime}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Encode(context.Background(), io.Discard, src, lv, segs, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(lv.Labels))*float64(b.N)/b.Elapsed().Seconds(), "voxels/s")
}
