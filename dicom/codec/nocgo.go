//go:build !cgo

package codec

import "github.com/mhpnet/node/dicom"

// JPEGLSDecoder refuses JPEG-LS in a build without cgo: CharLS is a C
// library (build with CGO_ENABLED=1 and libcharls-dev to decode it).
type JPEGLSDecoder struct{}

// DecodeFrame implements dicom.Decoder.
func (JPEGLSDecoder) DecodeFrame(*dicom.PixelData, dicom.PixelFormat, int) ([]byte, error) {
	return nil, ErrUnsupportedCoding{Codec: "JPEG-LS", Feature: "decoding in a build without cgo (CharLS)"}
}

// JPEG2000Decoder refuses JPEG 2000 in a build without cgo: OpenJPEG is a
// C library (build with CGO_ENABLED=1 and libopenjp2-7-dev to decode it).
type JPEG2000Decoder struct{}

// DecodeFrame implements dicom.Decoder.
func (JPEG2000Decoder) DecodeFrame(*dicom.PixelData, dicom.PixelFormat, int) ([]byte, error) {
	return nil, ErrUnsupportedCoding{Codec: "JPEG 2000", Feature: "decoding in a build without cgo (OpenJPEG)"}
}
