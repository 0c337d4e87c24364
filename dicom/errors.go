package dicom

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels. Every typed error of this package satisfies errors.Is against
// ErrRefused and against exactly one of the class sentinels below; use
// errors.As with the typed error for the details.
var (
	// ErrRefused means the input cannot be processed as it is: the CLI exits
	// with code 3 and the pipeline dead-letters the job with the message.
	ErrRefused = errors.New("dicom: input refused")
	// ErrGeometry is the class of slice-geometry refusals: gantry tilt,
	// missing slices, non-uniform spacing, mixed geometry, duplicate positions.
	ErrGeometry = errors.New("dicom: unusable slice geometry")
	// ErrUnsupported is the class of valid DICOM the node does not handle
	// (yet): not CT, compressed transfer syntaxes without a decoder.
	ErrUnsupported = errors.New("dicom: unsupported input")
	// ErrInvalid is the class of broken or incomplete objects: malformed
	// files, missing UIDs, missing pixel data, impossible attribute values.
	ErrInvalid = errors.New("dicom: invalid object")
	// ErrAmbiguous means one series was asked for and several were found.
	ErrAmbiguous = errors.New("dicom: ambiguous input")
)

// ErrGantryTilt refuses a series whose slice positions do not advance along
// the slice normal (gantry tilt or a sheared stack). Resampling is not done.
type ErrGantryTilt struct {
	// Degrees is the angle between the slice normal and the direction in
	// which consecutive ImagePositionPatient values advance.
	Degrees float64
}

// Error implements error.
func (e ErrGantryTilt) Error() string {
	return fmt.Sprintf("gantry tilt: slice positions advance %.2f° off the slice normal; "+
		"the node needs an orthogonal stack: reconstruct or resample the series without tilt "+
		"(or send the axial reformat) and resend", e.Degrees)
}

// Is reports class membership for errors.Is.
func (e ErrGantryTilt) Is(target error) bool { return target == ErrRefused || target == ErrGeometry }

// ErrMissingSlices refuses a series with a gap that is a whole multiple of
// the slice spacing: slices were lost on the way (or never sent).
type ErrMissingSlices struct {
	// After is the 0-based index, in sorted order, of the last slice before
	// the gap.
	After int
	// AfterSOPInstanceUID identifies that slice.
	AfterSOPInstanceUID string
	// AfterPosition is that slice's position along the normal (mm).
	AfterPosition float64
	// Gap is the distance to the next slice (mm).
	Gap float64
	// Spacing is the median slice spacing (mm).
	Spacing float64
	// Missing is the estimated number of missing slices (Gap/Spacing - 1).
	Missing int
	// Gaps is the number of such gaps in the series (this error names the first).
	Gaps int
}

// Error implements error.
func (e ErrMissingSlices) Error() string {
	more := ""
	if e.Gaps > 1 {
		more = fmt.Sprintf(" (%d gaps in total)", e.Gaps)
	}
	return fmt.Sprintf("missing slices: gap of %.3g mm (about %d slice(s) of %.3g mm) after slice %d "+
		"(SOPInstanceUID %s, position %.3f mm along the normal)%s; resend the complete series from the PACS",
		e.Gap, e.Missing, e.Spacing, e.After, e.AfterSOPInstanceUID, e.AfterPosition, more)
}

// Is reports class membership for errors.Is.
func (e ErrMissingSlices) Is(target error) bool {
	return target == ErrRefused || target == ErrGeometry
}

// ErrNonUniformSpacing refuses a series whose slice steps differ by more
// than the tolerance (1 % or 0.01 mm of the median) and are not whole
// multiples of the median.
type ErrNonUniformSpacing struct {
	// Min, Max and Median are the smallest, largest and median steps (mm).
	Min, Max, Median float64
	// At is the 0-based sorted index of the slice before the first odd step.
	At int
	// Step is that step (mm).
	Step float64
}

// Error implements error.
func (e ErrNonUniformSpacing) Error() string {
	return fmt.Sprintf("non-uniform slice spacing: step %.4g mm after slice %d while the median is %.4g mm "+
		"(steps range %.4g..%.4g mm); send a series reconstructed at a constant interval",
		e.Step, e.At, e.Median, e.Min, e.Max)
}

// Is reports class membership for errors.Is.
func (e ErrNonUniformSpacing) Is(target error) bool {
	return target == ErrRefused || target == ErrGeometry
}

// ErrMixedGeometry refuses a series whose slices disagree on size, pixel
// spacing or orientation (or whose orientation is not orthonormal).
type ErrMixedGeometry struct {
	// Attribute is the DICOM keyword that differs, e.g. "Rows".
	Attribute string
	// First and Other are the two values found, as text.
	First, Other string
	// SOPInstanceUID is an instance carrying Other.
	SOPInstanceUID string
}

// Error implements error.
func (e ErrMixedGeometry) Error() string {
	if e.First == "" {
		return fmt.Sprintf("invalid geometry: %s %s (instance %s); the series cannot be stacked into a volume",
			e.Attribute, e.Other, e.SOPInstanceUID)
	}
	return fmt.Sprintf("mixed geometry: %s is %s in one slice and %s in instance %s; "+
		"the folder mixes several reconstructions: send one series with one size and orientation",
		e.Attribute, e.First, e.Other, e.SOPInstanceUID)
}

// Is reports class membership for errors.Is.
func (e ErrMixedGeometry) Is(target error) bool {
	return target == ErrRefused || target == ErrGeometry
}

// ErrDuplicatePosition refuses a series in which two slices share a
// position along the normal.
type ErrDuplicatePosition struct {
	// Position is the shared position along the normal (mm).
	Position float64
	// SOPInstanceUIDs are the two instances at that position.
	SOPInstanceUIDs [2]string
}

// Error implements error.
func (e ErrDuplicatePosition) Error() string {
	return fmt.Sprintf("duplicate slice position %.3f mm along the normal (instances %s and %s); "+
		"the series holds two stacks or a slice was sent twice under different UIDs",
		e.Position, e.SOPInstanceUIDs[0], e.SOPInstanceUIDs[1])
}

// Is reports class membership for errors.Is.
func (e ErrDuplicatePosition) Is(target error) bool {
	return target == ErrRefused || target == ErrGeometry
}

// ErrSeveralSeries is returned when exactly one usable CT series was asked
// for and several were found.
type ErrSeveralSeries struct {
	// UIDs are the SeriesInstanceUIDs of the usable series found.
	UIDs []string
}

// Error implements error.
func (e ErrSeveralSeries) Error() string {
	return fmt.Sprintf("%d usable CT series found where one was expected (SeriesInstanceUID %s); "+
		"put one series per folder or select one by UID", len(e.UIDs), strings.Join(e.UIDs, ", "))
}

// Is reports class membership for errors.Is.
func (e ErrSeveralSeries) Is(target error) bool {
	return target == ErrRefused || target == ErrAmbiguous
}

// ErrNoPixelData refuses an image instance without Pixel Data (7FE0,0010),
// or a folder without any CT image.
type ErrNoPixelData struct {
	// SOPInstanceUID is the instance without pixel data ("" for a folder).
	SOPInstanceUID string
	// Path is the file or part name.
	Path string
}

// Error implements error.
func (e ErrNoPixelData) Error() string {
	if e.SOPInstanceUID == "" && e.Path != "" {
		return fmt.Sprintf("no CT image with pixel data found in %s", e.Path)
	}
	return fmt.Sprintf("instance %s (%s) has no Pixel Data (7FE0,0010); "+
		"it was probably stored or retrieved without bulk data: retrieve the full instance", e.SOPInstanceUID, e.Path)
}

// Is reports class membership for errors.Is.
func (e ErrNoPixelData) Is(target error) bool { return target == ErrRefused || target == ErrInvalid }

// ErrNotCT refuses an image series that is not CT.
type ErrNotCT struct {
	// Modality is the series' Modality (0008,0060).
	Modality string
	// SOPClassUID is the SOP class of its instances.
	SOPClassUID string
}

// Error implements error.
func (e ErrNotCT) Error() string {
	return fmt.Sprintf("not a CT series: Modality %q, SOP class %s (%s); the node segments CT only: "+
		"check the routing rules", e.Modality, e.SOPClassUID, SOPClassName(e.SOPClassUID))
}

// Is reports class membership for errors.Is.
func (e ErrNotCT) Is(target error) bool { return target == ErrRefused || target == ErrUnsupported }

// ErrUnsupportedTransferSyntax refuses pixel data encoded in a transfer
// syntax for which no Decoder is configured.
type ErrUnsupportedTransferSyntax struct {
	// UID is the TransferSyntaxUID (0002,0010).
	UID string
	// Name is its name from PS3.6 (or "unknown").
	Name string
}

// Error implements error.
func (e ErrUnsupportedTransferSyntax) Error() string {
	return fmt.Sprintf("unsupported transfer syntax %s (%s): no decoder for it; ask the PACS to send "+
		"Explicit VR Little Endian (1.2.840.10008.1.2.1), e.g. WADO-RS with transfer-syntax=1.2.840.10008.1.2.1",
		e.UID, e.Name)
}

// Is reports class membership for errors.Is.
func (e ErrUnsupportedTransferSyntax) Is(target error) bool {
	return target == ErrRefused || target == ErrUnsupported
}

// ErrMissingUID refuses an instance whose identifying UID is absent or
// empty, so it cannot be grouped or referenced by a SEG.
type ErrMissingUID struct {
	// Tag names the first missing attribute, e.g. "SeriesInstanceUID (0020,000E)".
	Tag string
	// Others names further missing UID attributes of the same instance.
	Others []string
	// Path is the file or part name.
	Path string
}

// Error implements error.
func (e ErrMissingUID) Error() string {
	all := e.Tag
	if len(e.Others) > 0 {
		all += ", " + strings.Join(e.Others, ", ")
	}
	return fmt.Sprintf("empty or missing %s in %s; the instance cannot be grouped or referenced: "+
		"the export was probably anonymised too aggressively, re-export it with its UIDs (or new ones)",
		all, e.Path)
}

// Is reports class membership for errors.Is.
func (e ErrMissingUID) Is(target error) bool { return target == ErrRefused || target == ErrInvalid }

// ErrMalformed refuses bytes that are not a readable DICOM Part 10 object.
type ErrMalformed struct {
	// Path is the file or part name.
	Path string
	// Reason says what is wrong, with offsets where known.
	Reason string
	// Err is the underlying parser error, if any.
	Err error
}

// Error implements error.
func (e ErrMalformed) Error() string {
	s := fmt.Sprintf("malformed DICOM %s: %s", e.Path, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying parser error.
func (e ErrMalformed) Unwrap() error { return e.Err }

// Is reports class membership for errors.Is.
func (e ErrMalformed) Is(target error) bool { return target == ErrRefused || target == ErrInvalid }

// ErrInvalidAttribute refuses an instance whose attribute value the node
// cannot use (e.g. BitsAllocated 32, SamplesPerPixel 3, Rows 0).
type ErrInvalidAttribute struct {
	// Attribute is the DICOM keyword with its tag, e.g. "BitsAllocated (0028,0100)".
	Attribute string
	// Value is the value found, as text.
	Value string
	// Want says what is accepted.
	Want string
	// Path is the file or part name.
	Path string
}

// Error implements error.
func (e ErrInvalidAttribute) Error() string {
	return fmt.Sprintf("%s: %s is %q, want %s", e.Path, e.Attribute, e.Value, e.Want)
}

// Is reports class membership for errors.Is.
func (e ErrInvalidAttribute) Is(target error) bool {
	return target == ErrRefused || target == ErrInvalid
}
