package dicom

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

func TestNativeDecoder(t *testing.T) {
	f16 := PixelFormat{Rows: 1, Columns: 2, SamplesPerPixel: 1, BitsAllocated: 16}
	f8 := PixelFormat{Rows: 1, Columns: 2, SamplesPerPixel: 1, BitsAllocated: 8}
	tests := []struct {
		name    string
		dec     NativeDecoder
		px      PixelData
		f       PixelFormat
		frame   int
		want    []byte
		wantErr bool
	}{
		{"little endian frame 1", NativeDecoder{}, PixelData{Native: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Frames: 2}, f16, 1, []byte{5, 6, 7, 8}, false},
		{"big endian swaps 16-bit samples", NativeDecoder{BigEndian: true}, PixelData{Native: []byte{1, 2, 3, 4}, Frames: 1}, f16, 0, []byte{2, 1, 4, 3}, false},
		{"big endian leaves 8-bit alone", NativeDecoder{BigEndian: true}, PixelData{Native: []byte{1, 2}, Frames: 1}, f8, 0, []byte{1, 2}, false},
		{"too short", NativeDecoder{}, PixelData{Native: []byte{1, 2, 3, 4, 5, 6}, Frames: 2}, f16, 0, nil, true},
		{"frame out of range", NativeDecoder{}, PixelData{Native: []byte{1, 2, 3, 4}, Frames: 1}, f16, 1, nil, true},
		{"encapsulated data", NativeDecoder{}, PixelData{Fragments: [][]byte{{1}}, Frames: 1}, f16, 0, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.dec.DecodeFrame(&tc.px, tc.f, tc.frame)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeRLE stands in for a future codec: it checks that it receives the
// encapsulated fragments and returns the known native pixels.
type fakeRLE struct {
	native    []byte
	fragments int
}

func (d *fakeRLE) DecodeFrame(px *PixelData, f PixelFormat, frame int) ([]byte, error) {
	if px.Native != nil || len(px.Fragments) == 0 {
		return nil, errors.New("want encapsulated fragments")
	}
	d.fragments = len(px.Fragments)
	return d.native, nil
}

// TestDecoderRegistration: a codec is added through Options.Decoders,
// selected by transfer syntax, without touching the reader.
func TestDecoderRegistration(t *testing.T) {
	dir := testdata.Shared(t, "data/dicom-codecs/cornerstone-ct")
	ref := loadOne(t, filepath.Join(dir, "CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm"))
	// The native little-endian bytes of the reference, stored = HU + 1024.
	native := make([]byte, 2*len(ref.HU))
	for i, h := range ref.HU {
		v := uint16(int(h) + 1024)
		native[2*i], native[2*i+1] = byte(v), byte(v>>8)
	}
	const rle = "1.2.840.10008.1.2.5"
	dec := &fakeRLE{native: native}
	opts := Options{Decoders: DefaultDecoders()}
	opts.Decoders[rle] = dec
	b := NewSeriesBuilder(opts)
	if err := b.AddFile(context.Background(), filepath.Join(dir, "CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm")); err != nil {
		t.Fatal(err)
	}
	s, err := b.Scan().Only()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.LoadVolume(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dec.fragments != 1 {
		t.Errorf("decoder saw %d fragments, want 1", dec.fragments)
	}
	for i := range ref.HU {
		if v.HU[i] != ref.HU[i] {
			t.Fatalf("voxel %d = %d, want %d", i, v.HU[i], ref.HU[i])
		}
	}
}
