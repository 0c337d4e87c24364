// Package codec decodes compressed (encapsulated) CT pixel data for the
// dicom reader: RLE Lossless, JPEG baseline and extended (8 and 12 bits),
// JPEG lossless (process 14, any predictor), JPEG-LS through CharLS and
// JPEG 2000 through OpenJPEG. It sits beside dicom: callers pass
//
//	dicom.Options{Decoders: codec.Decoders()}
//
// and the reader selects a Decoder by TransferSyntaxUID. Every decoder
// checks the codestream header against the DICOM Image Pixel module before
// it allocates or hands bytes to a C library, and returns exactly
// PixelFormat.FrameBytes() bytes of native little-endian samples. Syntaxes
// not listed in Decoders (e.g. the retired JPEG 1.2.840.10008.1.2.4.53 and
// .55) stay refused by the reader with dicom.ErrUnsupportedTransferSyntax.
// This package does not log.
package codec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mhpnet/node/dicom"
)

// Transfer syntax UIDs decoded here (PS3.6 Table A-1).
const (
	// RLELossless is RLE Lossless (PS3.5 Annex G).
	RLELossless = "1.2.840.10008.1.2.5"
	// JPEGBaseline8Bit is JPEG Baseline (Process 1).
	JPEGBaseline8Bit = "1.2.840.10008.1.2.4.50"
	// JPEGExtended12Bit is JPEG Extended (Process 2 and 4).
	JPEGExtended12Bit = "1.2.840.10008.1.2.4.51"
	// JPEGLossless is JPEG Lossless, Non-Hierarchical (Process 14).
	JPEGLossless = "1.2.840.10008.1.2.4.57"
	// JPEGLosslessSV1 is JPEG Lossless, Non-Hierarchical, First-Order
	// Prediction (Process 14 [Selection Value 1]).
	JPEGLosslessSV1 = "1.2.840.10008.1.2.4.70"
	// JPEGLSLossless is JPEG-LS Lossless Image Compression.
	JPEGLSLossless = "1.2.840.10008.1.2.4.80"
	// JPEGLSNearLossless is JPEG-LS Lossy (Near-Lossless) Image Compression.
	JPEGLSNearLossless = "1.2.840.10008.1.2.4.81"
	// JPEG2000Lossless is JPEG 2000 Image Compression (Lossless Only).
	JPEG2000Lossless = "1.2.840.10008.1.2.4.90"
	// JPEG2000 is JPEG 2000 Image Compression (lossless or lossy).
	JPEG2000 = "1.2.840.10008.1.2.4.91"
)

// Decoders returns dicom.DefaultDecoders() plus every decoder of this
// package, keyed by TransferSyntaxUID. Each call returns a new map; the
// decoders hold no state and are safe for concurrent use.
func Decoders() dicom.Decoders {
	ds := dicom.DefaultDecoders()
	ds[RLELossless] = RLEDecoder{}
	ds[JPEGBaseline8Bit] = JPEGDecoder{}
	ds[JPEGExtended12Bit] = JPEGDecoder{}
	ds[JPEGLossless] = JPEGDecoder{}
	ds[JPEGLosslessSV1] = JPEGDecoder{}
	ds[JPEGLSLossless] = JPEGLSDecoder{}
	ds[JPEGLSNearLossless] = JPEGLSDecoder{}
	ds[JPEG2000Lossless] = JPEG2000Decoder{}
	ds[JPEG2000] = JPEG2000Decoder{}
	return ds
}

// checkFormat refuses a pixel format no decoder here produces, before any
// allocation: the reader validates the same limits, but a Decoder may be
// called directly.
func checkFormat(codec string, f dicom.PixelFormat) error {
	switch {
	case f.Rows < 1 || f.Rows > dicom.MaxRows || f.Columns < 1 || f.Columns > dicom.MaxRows:
		return ErrUnsupportedCoding{Codec: codec, Feature: fmt.Sprintf("a %dx%d frame (limit %d)", f.Columns, f.Rows, dicom.MaxRows)}
	case f.SamplesPerPixel != 1:
		return ErrUnsupportedCoding{Codec: codec, Feature: fmt.Sprintf("SamplesPerPixel %d (grayscale only)", f.SamplesPerPixel)}
	case f.BitsAllocated != 8 && f.BitsAllocated != 16:
		return ErrUnsupportedCoding{Codec: codec, Feature: fmt.Sprintf("BitsAllocated %d (8 or 16 only)", f.BitsAllocated)}
	case f.BitsStored < 1 || f.BitsStored > f.BitsAllocated:
		return ErrUnsupportedCoding{Codec: codec, Feature: fmt.Sprintf("BitsStored %d with BitsAllocated %d", f.BitsStored, f.BitsAllocated)}
	}
	return nil
}

// frameStart reports whether a fragment begins a frame of a coding
// (its codestream's first marker or header).
type frameStart func(fragment []byte) bool

// frameData returns the compressed bytes of frame (0-based): the fragments
// that belong to it, joined when there are several (PS3.5 A.4).
//
// The reader (suyashkumar/dicom v1.1.0) drops the Basic Offset Table, so
// frames are found without it: a single-frame object owns all fragments; an
// object with one fragment per frame maps them one to one; otherwise each
// frame starts at a fragment that begins with its codestream's start marker
// (SOI for JPEG and JPEG-LS, SOC+SIZ or the JP2 signature for JPEG 2000,
// the 64-byte header for RLE), which is how dcmtk finds frames without a
// BOT.
func frameData(codec string, px *dicom.PixelData, frame int, isStart frameStart) ([]byte, error) {
	if px == nil || px.Fragments == nil {
		return nil, ErrCorruptData{Codec: codec, Frame: frame, Reason: "pixel data is native, not encapsulated"}
	}
	frags := px.Fragments
	switch {
	case frame < 0 || frame >= px.Frames:
		return nil, fmt.Errorf("%s: frame %d out of range 1..%d", codec, frame+1, px.Frames)
	case len(frags) == 0:
		return nil, ErrCorruptData{Codec: codec, Frame: frame, Reason: "no fragment after the Basic Offset Table"}
	case len(frags) < px.Frames:
		return nil, ErrCorruptData{Codec: codec, Frame: frame, Reason: fmt.Sprintf("%d fragment(s) for %d frames", len(frags), px.Frames)}
	case len(frags) == px.Frames:
		return frags[frame], nil
	case px.Frames == 1:
		return bytes.Join(frags, nil), nil
	}
	var starts []int
	for i, fr := range frags {
		if isStart(fr) {
			starts = append(starts, i)
		}
	}
	if len(starts) != px.Frames || starts[0] != 0 {
		return nil, ErrCorruptData{Codec: codec, Frame: frame, Reason: fmt.Sprintf(
			"%d fragments for %d frames, without a Basic Offset Table, and %d fragments start a codestream",
			len(frags), px.Frames, len(starts))}
	}
	end := len(frags)
	if frame+1 < len(starts) {
		end = starts[frame+1]
	}
	if end-starts[frame] == 1 {
		return frags[starts[frame]], nil
	}
	return bytes.Join(frags[starts[frame]:end], nil), nil
}

// isJPEGStart reports whether b starts with SOI followed by a marker (JPEG
// and JPEG-LS, T.81 B.2.1, T.87 C.1).
func isJPEGStart(b []byte) bool {
	return len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF
}

// jp2Signature is the JPEG 2000 signature box (T.800 I.5.1).
const jp2Signature = "\x00\x00\x00\x0cjP  \r\n\x87\n"

// isJ2KStart reports whether b starts a J2K codestream (SOC then SIZ,
// T.800 A.4.1 and A.5.1) or a JP2 file.
func isJ2KStart(b []byte) bool {
	return (len(b) >= 4 && b[0] == 0xFF && b[1] == 0x4F && b[2] == 0xFF && b[3] == 0x51) || bytes.HasPrefix(b, []byte(jp2Signature))
}

// withFrame sets the frame of an ErrCorruptData raised by a header parser
// that does not know it.
func withFrame(err error, frame int) error {
	var ce ErrCorruptData
	if errors.As(err, &ce) {
		ce.Frame = frame
		return ce
	}
	return err
}

// put stores a decoded sample in a native little-endian frame.
func put(out []byte, bitsAllocated, i int, v uint16) {
	if bitsAllocated == 8 {
		out[i] = byte(v)
		return
	}
	out[2*i] = byte(v)
	out[2*i+1] = byte(v >> 8)
}
