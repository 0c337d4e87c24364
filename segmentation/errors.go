package segmentation

import "errors"

// Sentinel errors of the segmentation package. Typed errors and wrapped
// errors satisfy errors.Is against one of these.
var (
	// ErrModelFormat: a model file is not one (bad magic, unknown format
	// version, truncated, checksum mismatch). Re-export or retrain the model.
	ErrModelFormat = errors.New("segmentation: not a valid model file")
	// ErrModelInvalid: a model file parses but holds values the pipeline
	// cannot use (architecture, spacing, thresholds).
	ErrModelInvalid = errors.New("segmentation: invalid model configuration")
	// ErrInput: the CT volume cannot be segmented (empty, inconsistent
	// geometry, too small).
	ErrInput = errors.New("segmentation: unusable input volume")
	// ErrTraining: training data or options are unusable.
	ErrTraining = errors.New("segmentation: cannot train")
)
