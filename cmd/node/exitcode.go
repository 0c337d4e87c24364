package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/pipeline"
	"github.com/mhpnet/node/segmentation"
)

// Exit codes of the node binary. Scripts may rely on them.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailure is any failure not covered by a more specific code.
	ExitFailure = 1
	// ExitUsage means bad flags, arguments or configuration.
	ExitUsage = 2
	// ExitRefused means the input data was refused (e.g. a series with
	// missing slices or gantry tilt); the message names the reason.
	ExitRefused = 3
	// ExitUnavailable means a service the command needs (PACS, NATS) could
	// not be reached.
	ExitUnavailable = 4
)

// exitError carries an explicit exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that exits with ExitUsage.
func usageErrorf(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// withCode wraps err so that the process exits with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// classify maps an error without an explicit code to an exit code.
func classify(err error) int {
	switch {
	case isRefusal(err):
		return ExitRefused
	case isUnavailable(err):
		return ExitUnavailable
	case errors.Is(err, segmentation.ErrModelFormat), errors.Is(err, segmentation.ErrModelInvalid):
		// --model or model.path names a file that is not a usable model.
		return ExitUsage
	case errors.Is(err, fs.ErrNotExist):
		// A path given on the command line or in the configuration
		// (--in, --labels, --model, model.path) does not exist.
		return ExitUsage
	default:
		return ExitFailure
	}
}

// isRefusal reports whether err means the input data was refused.
// Packages with typed input errors add their sentinel here.
func isRefusal(err error) bool {
	return errors.Is(err, dicom.ErrRefused) ||
		errors.Is(err, seg.ErrInvalidSource) ||
		errors.Is(err, seg.ErrGeometryMismatch) ||
		errors.Is(err, segmentation.ErrInput)
}

// isUnavailable reports whether err means a needed service was unreachable.
func isUnavailable(err error) bool {
	return errors.Is(err, pipeline.ErrNATSUnavailable) ||
		errors.Is(err, dicomweb.ErrTransport) ||
		errors.Is(err, dicomweb.ErrTimeout) ||
		errors.Is(err, dicomweb.ErrServer)
}
