package dicom

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"testing"
)

// TestHULUT checks stored-value interpretation and rescale against values
// worked out by hand from PS3.3 C.7.6.3.1 and C.11.1.
func TestHULUT(t *testing.T) {
	pad := func(v int) PixelFormat {
		f := PixelFormat{BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 1, HasPadding: true}
		f.PaddingValue = f.normalizeStored(v)
		return f
	}
	tests := []struct {
		name    string
		format  PixelFormat
		rescale Rescale
		raw     []uint16
		want    []int16
	}{
		{"signed 16", PixelFormat{BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 1},
			Rescale{1, 0}, []uint16{0xFC00, 0x03FF, 0x8000}, []int16{-1024, 1023, -32768}},
		{"unsigned 16 with intercept", PixelFormat{BitsAllocated: 16, BitsStored: 16, HighBit: 15},
			Rescale{1, -1024}, []uint16{0, 1024, 2000}, []int16{-1024, 0, 976}},
		{"12 bits stored, signed: sign extension from bit 11", PixelFormat{BitsAllocated: 16, BitsStored: 12, HighBit: 11, PixelRepresentation: 1},
			Rescale{1, 0}, []uint16{0x0FFF, 0x0800, 0x07FF, 0xF001}, []int16{-1, -2048, 2047, 1}},
		{"12 bits stored, unsigned: high bits ignored", PixelFormat{BitsAllocated: 16, BitsStored: 12, HighBit: 11},
			Rescale{1, -1024}, []uint16{0xF000, 0x0FFF}, []int16{-1024, 3071}},
		{"padding -2000 as SS maps to air, not -3024", pad(-2000),
			Rescale{1, -1024}, []uint16{uint16(0xF830), 0, 2401}, []int16{PaddingHU, -1024, 1377}},
		{"padding read as US 63536 is the same value", pad(63536),
			Rescale{1, -1024}, []uint16{uint16(0xF830)}, []int16{PaddingHU}},
		{"slope and rounding", PixelFormat{BitsAllocated: 16, BitsStored: 16, HighBit: 15},
			Rescale{0.5, -1000.5}, []uint16{1, 2, 4001}, []int16{-1000, -1000, 1000}},
		{"clamped to int16", PixelFormat{BitsAllocated: 16, BitsStored: 16, HighBit: 15},
			Rescale{10, 0}, []uint16{30000}, []int16{math.MaxInt16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lut := newHULUT(tc.format, tc.rescale)
			frame := make([]byte, 2*len(tc.raw))
			for i, v := range tc.raw {
				binary.LittleEndian.PutUint16(frame[2*i:], v)
			}
			got := make([]int16, len(tc.raw))
			if err := lut.convert(frame, got); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("raw %#04x: HU %d, want %d", tc.raw[i], got[i], tc.want[i])
				}
			}
		})
	}
}

// TestHUFromStream writes synthetic slices in several encodings and reads
// them through SeriesBuilder.AddReader: same HU whatever the byte order.
func TestHUFromStream(t *testing.T) {
	padding := -2000
	mk := func(ts string) []synthSlice {
		return synthSeries("2.25.20", steps(0, 1, 3), func(i int, s *synthSlice) {
			s.TS = ts
			s.Padding = &padding
			s.Stored[0] = padding
			s.Stored[1] = -1000
			s.Stored[2] = 2401
		})
	}
	load := func(ts string) []int16 {
		t.Helper()
		b := NewSeriesBuilder(Options{ExpectedFrames: 2}) // fewer than sent: the store must grow
		for _, s := range mk(ts) {
			if err := b.AddReader(context.Background(), "part", bytes.NewReader(s.encode(t))); err != nil {
				t.Fatal(err)
			}
		}
		s, err := b.Scan().Only()
		if err != nil {
			t.Fatalf("%s: %v (skipped %v)", ts, err, b.Scan().Skipped)
		}
		v, err := s.LoadVolume(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return v.HU
	}
	le := load(ExplicitVRLittleEndian)
	if le[0] != PaddingHU || le[1] != -2024 || le[2] != 1377 {
		t.Errorf("first voxels %v, want padding %d, -2024, 1377", le[:3], PaddingHU)
	}
	// slice z=1 (second) holds 1000+10+j for j>=3.
	if got := le[12+5]; got != 1000+10+5-1024 {
		t.Errorf("slice 1 voxel 5 = %d, want %d", got, 1000+10+5-1024)
	}
	for _, ts := range []string{ImplicitVRLittleEndian, ExplicitVRBigEndian} {
		got := load(ts)
		if len(got) != len(le) {
			t.Fatalf("%s: %d voxels, want %d", ts, len(got), len(le))
		}
		for i := range got {
			if got[i] != le[i] {
				t.Fatalf("%s: voxel %d = %d, explicit LE gives %d", ts, i, got[i], le[i])
			}
		}
	}
}

// BenchmarkHULUT measures the HU conversion of one 512×512 slice.
func BenchmarkHULUT(b *testing.B) {
	f := PixelFormat{BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 1, Rows: 512, Columns: 512}
	lut := newHULUT(f, Rescale{1, -1024})
	frame := make([]byte, 2*512*512)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	dst := make([]int16, 512*512)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := lut.convert(frame, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(dst))*float64(b.N)/b.Elapsed().Seconds(), "voxels/s")
}
