package codec

import (
	"encoding/binary"
	"fmt"

	"github.com/mhpnet/node/dicom"
)

const rleName = "RLE Lossless"

// RLEDecoder decodes RLE Lossless (1.2.840.10008.1.2.5, PS3.5 Annex G): a
// 64-byte header with up to 15 segment offsets, one PackBits segment per
// byte plane of each sample, most significant byte first.
type RLEDecoder struct{}

// isRLEStart reports whether b starts with a plausible RLE header: 1..15
// segments, the first at offset 64 (G.5).
func isRLEStart(b []byte) bool {
	if len(b) < 64 {
		return false
	}
	n := binary.LittleEndian.Uint32(b)
	return n >= 1 && n <= 15 && binary.LittleEndian.Uint32(b[4:]) == 64
}

// DecodeFrame implements dicom.Decoder.
func (RLEDecoder) DecodeFrame(px *dicom.PixelData, f dicom.PixelFormat, frame int) ([]byte, error) {
	if err := checkFormat(rleName, f); err != nil {
		return nil, err
	}
	data, err := frameData(rleName, px, frame, isRLEStart)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return ErrCorruptData{Codec: rleName, Frame: frame, Reason: fmt.Sprintf(format, a...)}
	}
	if len(data) < 64 {
		return nil, bad("%d bytes, shorter than the 64-byte RLE header", len(data))
	}
	planes := f.BitsAllocated / 8 // SamplesPerPixel is 1 (checkFormat)
	n := int(binary.LittleEndian.Uint32(data))
	if n != planes {
		return nil, ErrHeaderMismatch{Codec: rleName, Attribute: "BitsAllocated (0028,0100) / 8 (RLE segments)",
			DICOM: planes, Codestream: n}
	}
	var offs [16]int
	for i := range n {
		o := binary.LittleEndian.Uint32(data[4+4*i:])
		if o < 64 || uint64(o) > uint64(len(data)) || (i > 0 && int(o) < offs[i-1]) {
			return nil, bad("segment %d offset %d outside 64..%d or before segment %d", i+1, o, len(data), i)
		}
		offs[i] = int(o)
	}
	offs[n] = len(data)
	pixels := f.Rows * f.Columns
	out := make([]byte, f.FrameBytes())
	for s := range n {
		// Segment s holds byte s of each sample counted from the most
		// significant (G.2); in little-endian output that is byte planes-1-s.
		got := unpackBits(data[offs[s]:offs[s+1]], out[planes-1-s:], planes, pixels)
		// One byte more is the even-length padding of G.3.1; more than
		// that means the frame is larger than Rows×Columns says.
		if got < pixels || got > pixels+1 {
			return nil, bad("segment %d decodes to %d bytes, want %d (Rows×Columns)", s+1, got, pixels)
		}
	}
	return out, nil
}

// unpackBits decodes a PackBits segment (G.3.1) into dst[0], dst[stride],
// ... dst[(n-1)*stride] and returns the number of bytes the segment
// decodes to; bytes beyond n are counted, not written.
func unpackBits(src, dst []byte, stride, n int) int {
	w, i := 0, 0
	for i < len(src) {
		c := int(int8(src[i]))
		i++
		switch {
		case c >= 0: // c+1 literal bytes
			k := min(c+1, len(src)-i)
			for j := range min(k, max(n-w, 0)) {
				dst[(w+j)*stride] = src[i+j]
			}
			w += k
			i += k
		case c != -128: // the next byte 1-c times
			if i >= len(src) {
				return w
			}
			b := src[i]
			i++
			for j := range min(1-c, max(n-w, 0)) {
				dst[(w+j)*stride] = b
			}
			w += 1 - c
		}
	}
	return w
}
