package dicom

import (
	"fmt"
)

// PixelData is the Pixel Data (7FE0,0010) of one object as it was stored.
type PixelData struct {
	// Native holds a defined-length (native) value in the byte order of the
	// transfer syntax (the library has already inflated a deflated one).
	Native []byte
	// Fragments holds the fragments of encapsulated pixel data, without the
	// Basic Offset Table (PS3.5 A.4).
	Fragments [][]byte
	// Frames is NumberOfFrames (1 for single-frame objects).
	Frames int
}

// A Decoder turns the pixel data of one transfer syntax into native
// little-endian samples. Decoders are selected by TransferSyntaxUID through
// Options.Decoders, so a codec (JPEG 2000, JPEG-LS, RLE, ...) is added by
// registering it there, without touching the reader.
type Decoder interface {
	// DecodeFrame returns frame (0-based) as f.FrameBytes() bytes of native
	// little-endian samples. It may return a sub-slice of px.Native.
	DecodeFrame(px *PixelData, f PixelFormat, frame int) ([]byte, error)
}

// Decoders maps a TransferSyntaxUID to its Decoder.
type Decoders map[string]Decoder

// DefaultDecoders returns the decoders for the native transfer syntaxes:
// implicit and explicit VR little endian, deflated explicit VR little endian
// and explicit VR big endian. Encapsulated (compressed) syntaxes have no
// decoder yet and are refused with ErrUnsupportedTransferSyntax.
func DefaultDecoders() Decoders {
	return Decoders{
		ImplicitVRLittleEndian:         NativeDecoder{},
		ExplicitVRLittleEndian:         NativeDecoder{},
		DeflatedExplicitVRLittleEndian: NativeDecoder{},
		ExplicitVRBigEndian:            NativeDecoder{BigEndian: true},
	}
}

// NativeDecoder reads uncompressed pixel data (PS3.5 §8.1.1).
type NativeDecoder struct {
	// BigEndian swaps the bytes of 16-bit samples (explicit VR big endian).
	BigEndian bool
}

// DecodeFrame implements Decoder.
func (d NativeDecoder) DecodeFrame(px *PixelData, f PixelFormat, frame int) ([]byte, error) {
	if px.Native == nil {
		return nil, fmt.Errorf("pixel data is encapsulated (%d fragments), not native", len(px.Fragments))
	}
	n := f.FrameBytes()
	if frame < 0 || frame >= px.Frames {
		return nil, fmt.Errorf("frame %d out of range 0..%d", frame, px.Frames-1)
	}
	if int64(len(px.Native)) < int64(n)*int64(px.Frames) {
		return nil, fmt.Errorf("pixel data has %d bytes, %d frames of %dx%d at %d bits need %d",
			len(px.Native), px.Frames, f.Columns, f.Rows, f.BitsAllocated, int64(n)*int64(px.Frames))
	}
	b := px.Native[frame*n : (frame+1)*n]
	if !d.BigEndian || f.BitsAllocated != 16 {
		return b, nil
	}
	out := make([]byte, n)
	for i := 0; i+1 < n; i += 2 {
		out[i], out[i+1] = b[i+1], b[i]
	}
	return out, nil
}

// decoderFor returns the decoder for a transfer syntax or the typed refusal.
func (o Options) decoderFor(ts string) (Decoder, error) {
	ds := o.Decoders
	if ds == nil {
		ds = DefaultDecoders()
	}
	if d, ok := ds[ts]; ok && d != nil {
		return d, nil
	}
	return nil, ErrUnsupportedTransferSyntax{UID: ts, Name: TransferSyntaxName(ts)}
}
