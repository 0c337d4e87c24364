package seg

import (
	"errors"
	"fmt"
)

// Sentinel errors of the package. Typed errors below satisfy errors.Is
// against one of them; use errors.As for their details.
var (
	// ErrInvalidSegment means a segment description breaks a rule of
	// PS3.3 C.8.20.2 (Segmentation Image Module) or of this project.
	ErrInvalidSegment = errors.New("seg: invalid segment description")
	// ErrInvalidSource means the source series description cannot be
	// referenced by a SEG (missing UIDs, slices that disagree with the
	// geometry, no instances).
	ErrInvalidSource = errors.New("seg: invalid source series")
	// ErrGeometryMismatch means the label volume is not on the source grid.
	ErrGeometryMismatch = errors.New("seg: label volume is not on the source grid")
	// ErrInvalidOptions means an Options value cannot be written (a
	// missing model version, a value too long for its VR).
	ErrInvalidOptions = errors.New("seg: invalid options")
	// ErrEmpty means every segment is empty: a SEG needs at least one
	// frame, so there is nothing to store (the caller reports "nothing
	// found" instead).
	ErrEmpty = errors.New("seg: every segment is empty; a SEG needs at least one frame, so there is nothing to store")
	// ErrNotSegmentation means a file read back is not a binary DICOM SEG
	// this package can decode.
	ErrNotSegmentation = errors.New("seg: not a binary DICOM Segmentation")
)

// SegmentError names the segment and the rule it breaks.
type SegmentError struct {
	// Number is the SegmentNumber concerned (0 when not yet known).
	Number int
	// Rule says what was expected and what was found.
	Rule string
}

func (e *SegmentError) Error() string {
	return fmt.Sprintf("seg: segment %d: %s", e.Number, e.Rule)
}

// Is reports whether target is ErrInvalidSegment.
func (e *SegmentError) Is(target error) bool { return target == ErrInvalidSegment }

// GeometryMismatchError says which property of the label grid differs from
// the source grid. Resample the labels onto the source geometry first.
type GeometryMismatchError struct {
	// Field is "size", "origin", "spacing" or "direction".
	Field string
	// Source and Labels are the two values, formatted.
	Source, Labels string
}

func (e *GeometryMismatchError) Error() string {
	return fmt.Sprintf("seg: label volume %s %s differs from source %s %s; labels must be on the source grid (resample first)",
		e.Field, e.Labels, e.Field, e.Source)
}

// Is reports whether target is ErrGeometryMismatch.
func (e *GeometryMismatchError) Is(target error) bool { return target == ErrGeometryMismatch }

// SourceError names what is wrong with the source series description.
type SourceError struct {
	// Reason says what was expected and what was found.
	Reason string
}

func (e *SourceError) Error() string { return "seg: source series: " + e.Reason }

// Is reports whether target is ErrInvalidSource.
func (e *SourceError) Is(target error) bool { return target == ErrInvalidSource }

// ReadError says why a file is not a SEG this package can decode.
type ReadError struct {
	// Reason says what was expected and what was found.
	Reason string
}

func (e *ReadError) Error() string { return "seg: read: " + e.Reason }

// Is reports whether target is ErrNotSegmentation.
func (e *ReadError) Is(target error) bool { return target == ErrNotSegmentation }

// OptionsError names the Options field and the rule it breaks.
type OptionsError struct {
	// Field is the Options field name.
	Field string
	// Rule says what was expected and what was found.
	Rule string
}

func (e *OptionsError) Error() string { return "seg: Options." + e.Field + ": " + e.Rule }

// Is reports whether target is ErrInvalidOptions.
func (e *OptionsError) Is(target error) bool { return target == ErrInvalidOptions }
