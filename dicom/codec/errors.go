package codec

import (
	"errors"
	"fmt"

	"github.com/mhpnet/node/dicom"
)

// ErrCorrupt is the sentinel of ErrCorruptData: the compressed bytes of a
// frame cannot be decoded.
var ErrCorrupt = errors.New("codec: corrupt compressed pixel data")

// ErrCorruptData refuses compressed pixel data that cannot be decoded: a
// truncated or damaged codestream, or fragments whose frame boundaries
// cannot be found. It satisfies errors.Is against ErrCorrupt,
// dicom.ErrRefused and dicom.ErrInvalid.
type ErrCorruptData struct {
	// Codec names the coding, e.g. "RLE Lossless" or "JPEG-LS".
	Codec string
	// Frame is the 0-based frame being decoded.
	Frame int
	// Reason says what is wrong, with offsets where known.
	Reason string
}

// Error implements error.
func (e ErrCorruptData) Error() string {
	return fmt.Sprintf("%s frame %d: corrupt compressed data: %s; the instance was damaged in storage or "+
		"transfer: retrieve it again, or ask the PACS for Explicit VR Little Endian", e.Codec, e.Frame+1, e.Reason)
}

// Is reports class membership for errors.Is.
func (e ErrCorruptData) Is(target error) bool {
	return target == ErrCorrupt || target == dicom.ErrRefused || target == dicom.ErrInvalid
}

// ErrHeaderMismatch refuses a codestream whose own header disagrees with
// the DICOM Image Pixel module (size, precision, components). A decoded
// frame must have exactly PixelFormat.FrameBytes() bytes, so nothing is
// allocated from a header that lies. It satisfies errors.Is against
// dicom.ErrRefused and dicom.ErrInvalid.
type ErrHeaderMismatch struct {
	// Codec names the coding.
	Codec string
	// Attribute is the DICOM attribute compared, e.g. "Rows (0028,0010)".
	Attribute string
	// DICOM and Codestream are the two values.
	DICOM, Codestream int
}

// Error implements error.
func (e ErrHeaderMismatch) Error() string {
	return fmt.Sprintf("%s codestream disagrees with the DICOM header: %s is %d in DICOM, %d in the codestream; "+
		"the object is inconsistent: re-export it from the modality or ask the PACS for Explicit VR Little Endian",
		e.Codec, e.Attribute, e.DICOM, e.Codestream)
}

// Is reports class membership for errors.Is.
func (e ErrHeaderMismatch) Is(target error) bool {
	return target == dicom.ErrRefused || target == dicom.ErrInvalid
}

// ErrUnsupportedCoding refuses a valid codestream that uses a coding option
// this package does not decode (e.g. arithmetic coding, hierarchical or
// progressive JPEG, several components). It satisfies errors.Is against
// dicom.ErrRefused and dicom.ErrUnsupported.
type ErrUnsupportedCoding struct {
	// Codec names the coding.
	Codec string
	// Feature names the option found, e.g. "arithmetic coding (SOF9)".
	Feature string
}

// Error implements error.
func (e ErrUnsupportedCoding) Error() string {
	return fmt.Sprintf("%s: %s is not supported; ask the PACS for Explicit VR Little Endian (1.2.840.10008.1.2.1)",
		e.Codec, e.Feature)
}

// Is reports class membership for errors.Is.
func (e ErrUnsupportedCoding) Is(target error) bool {
	return target == dicom.ErrRefused || target == dicom.ErrUnsupported
}
