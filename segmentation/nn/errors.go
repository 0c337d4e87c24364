package nn

import (
	"errors"
	"fmt"
)

// ErrArch reports an invalid network architecture.
var ErrArch = errors.New("nn: invalid architecture")

// ErrShape reports an input, target or weight array whose size does not match
// the architecture or the declared extent.
var ErrShape = errors.New("nn: shape mismatch")

// ErrModelData reports serialized weights that cannot be decoded: wrong magic,
// unknown version, truncated data or a checksum mismatch.
var ErrModelData = errors.New("nn: invalid model data")

// ErrOptions reports invalid TrainOptions.
var ErrOptions = errors.New("nn: invalid training options")

// ErrNotFinite reports a loss or gradient that became NaN or infinite during
// training; lower the learning rate or check the inputs.
var ErrNotFinite = errors.New("nn: non-finite loss")

// ShapeError details an ErrShape: which array, what was expected and what was
// found.
type ShapeError struct {
	What     string // which array, e.g. "inputs"
	Expected string
	Found    string
}

// Error implements error.
func (e *ShapeError) Error() string {
	return fmt.Sprintf("nn: %s: expected %s, found %s", e.What, e.Expected, e.Found)
}

// Is makes errors.Is(err, ErrShape) true.
func (e *ShapeError) Is(target error) bool { return target == ErrShape }

// ArchError details an ErrArch: the rule that the architecture breaks.
type ArchError struct {
	Field string // e.g. "Layers[2].Kernel"
	Rule  string // e.g. "must be odd and in [1, 7]"
	Value int
}

// Error implements error.
func (e *ArchError) Error() string {
	return fmt.Sprintf("nn: architecture: %s = %d: %s", e.Field, e.Value, e.Rule)
}

// Is makes errors.Is(err, ErrArch) true.
func (e *ArchError) Is(target error) bool { return target == ErrArch }
