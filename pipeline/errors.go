package pipeline

import (
	"errors"
	"fmt"
)

var (
	// ErrPermanent marks a job failure that retrying cannot fix (the DICOM
	// data was refused, the series is gone from the PACS): the job is
	// dead-lettered at once instead of after MaxDeliver attempts.
	ErrPermanent = errors.New("permanent job failure")
	// ErrInvalidEvent means a study event could not be parsed or lacks a
	// valid StudyInstanceUID.
	ErrInvalidEvent = errors.New("invalid study event")
	// ErrJobNotFound means no queued or dead-lettered job has the given id.
	ErrJobNotFound = errors.New("job not found")
	// ErrUnauthorized means a webhook request carried no valid secret.
	ErrUnauthorized = errors.New("unauthorized")
)

// PermanentError wraps an error so that errors.Is(err, ErrPermanent) holds
// while errors.Is/As still reach the cause.
type PermanentError struct{ Err error }

// Error returns the cause's message.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Is reports whether target is ErrPermanent.
func (e *PermanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent wraps err as a PermanentError; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// StageError names the stage of a job that failed.
type StageError struct {
	Stage Stage
	Err   error
}

// Error returns "stage: cause".
func (e *StageError) Error() string { return fmt.Sprintf("%s: %v", e.Stage, e.Err) }

// Unwrap returns the cause.
func (e *StageError) Unwrap() error { return e.Err }
