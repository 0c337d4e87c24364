package dicomweb

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinels: every error returned by this package matches one of them with
// errors.Is (and often carries details reachable with errors.As).
var (
	// ErrInvalidOptions means Options failed validation in New; the message
	// names the field.
	ErrInvalidOptions = errors.New("dicomweb: invalid options")
	// ErrUnauthorized means the PACS answered 401 or 403: check the
	// credentials (basic user/password, bearer token file or variable).
	ErrUnauthorized = errors.New("dicomweb: unauthorized")
	// ErrNotFound means the PACS answered 404 (unknown study, series or
	// instance, or a wrong base URL).
	ErrNotFound = errors.New("dicomweb: not found")
	// ErrRateLimited means the PACS kept answering 429 after every retry.
	ErrRateLimited = errors.New("dicomweb: rate limited")
	// ErrServer means the PACS kept answering 5xx after every retry.
	ErrServer = errors.New("dicomweb: server error")
	// ErrHTTP is any other unexpected HTTP status.
	ErrHTTP = errors.New("dicomweb: unexpected HTTP status")
	// ErrTransport means the request never got an HTTP answer (connection
	// refused or reset, TLS failure, DNS) after every retry.
	ErrTransport = errors.New("dicomweb: transport error")
	// ErrTimeout means a request exceeded Options.Timeout, or a streamed
	// body made no progress for Options.StallTimeout.
	ErrTimeout = errors.New("dicomweb: timeout")
	// ErrMultipart means a multipart/related body could not be parsed
	// (missing or wrong boundary, bad part headers, a part shorter than its
	// Content-Length).
	ErrMultipart = errors.New("dicomweb: malformed multipart body")
	// ErrTruncated means a body ended before its closing delimiter or its
	// declared length: the connection dropped mid-transfer.
	ErrTruncated = errors.New("dicomweb: truncated body")
	// ErrDICOMJSON means an application/dicom+json body does not follow
	// PS3.18 §F.2.
	ErrDICOMJSON = errors.New("dicomweb: malformed DICOM JSON")
	// ErrTooLarge means a response exceeded a size limit of Options.
	ErrTooLarge = errors.New("dicomweb: response too large")
	// ErrStoreFailed means STOW-RS stored none or only some of the
	// instances (FailedSOPSequence not empty, 400, 409 or 202 with
	// failures).
	ErrStoreFailed = errors.New("dicomweb: store failed")
	// ErrConflict means STOW-RS answered 409 Conflict (PS3.18 §10.5.3).
	ErrConflict = errors.New("dicomweb: store conflict")
	// ErrPaging means a QIDO-RS server ignored offset (it returned a page
	// already seen), so walking the results would never end.
	ErrPaging = errors.New("dicomweb: QIDO paging not honoured")
)

// OptionsError names the Options field that failed validation.
type OptionsError struct {
	Field  string
	Reason string
}

// Error describes the failure.
func (e *OptionsError) Error() string {
	return fmt.Sprintf("dicomweb: option %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidOptions.
func (e *OptionsError) Is(target error) bool { return target == ErrInvalidOptions }

// HTTPError is a final non-success HTTP answer (after any retries).
type HTTPError struct {
	Method     string
	URL        string // without credentials or query secrets
	StatusCode int
	// Message is the server's explanation when it gave one (Orthanc's JSON
	// "Message"/"Details", or the first bytes of a text body).
	Message  string
	Attempts int
}

// Error describes the failure.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("dicomweb: %s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return s
}

// Is matches the sentinel for the status class.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrHTTP:
		return true
	}
	return false
}

// MultipartError locates a fault in a multipart/related body.
type MultipartError struct {
	Part   int // 0-based index of the part being read; -1 before the first
	Reason string
	// Truncated is true when the body simply ended too early.
	Truncated bool
	Err       error // underlying read error, if any
}

// Error describes the failure.
func (e *MultipartError) Error() string {
	s := "dicomweb: multipart"
	if e.Part >= 0 {
		s += fmt.Sprintf(" part %d", e.Part)
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches ErrMultipart, and ErrTruncated when the body ended too early.
func (e *MultipartError) Is(target error) bool {
	return target == ErrMultipart || (target == ErrTruncated && e.Truncated)
}

// Unwrap returns the underlying read error.
func (e *MultipartError) Unwrap() error { return e.Err }

// JSONError is a DICOM JSON body that does not follow PS3.18 §F.2.
type JSONError struct {
	Path   string // e.g. "[0].00081199.Value[2]"
	Reason string
}

// Error describes the failure.
func (e *JSONError) Error() string {
	if e.Path == "" {
		return "dicomweb: DICOM JSON: " + e.Reason
	}
	return "dicomweb: DICOM JSON at " + e.Path + ": " + e.Reason
}

// Is reports whether target is ErrDICOMJSON.
func (e *JSONError) Is(target error) bool { return target == ErrDICOMJSON }

// StoreError is a STOW-RS answer in which some or all instances were not
// stored; Result holds the per-instance reasons.
type StoreError struct {
	Result *StoreResult
}

// Error describes the failure.
func (e *StoreError) Error() string {
	r := e.Result
	var b strings.Builder
	fmt.Fprintf(&b, "dicomweb: STOW-RS %d: %s: %d stored, %d failed", r.StatusCode, r.Outcome, len(r.Referenced), len(r.Failed))
	for i, f := range r.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; %s: %s", f.SOPInstanceUID, f.FailureReason)
	}
	if r.Message != "" {
		fmt.Fprintf(&b, "; %s", r.Message)
	}
	return b.String()
}

// Is matches ErrStoreFailed, and ErrConflict for a 409 answer.
func (e *StoreError) Is(target error) bool {
	return target == ErrStoreFailed || (target == ErrConflict && e.Result.StatusCode == http.StatusConflict)
}

// TimeoutError is an attempt that ran out of time: the whole exchange
// exceeded Options.Timeout, or a streamed body (or the answer's headers)
// made no progress for Options.StallTimeout.
type TimeoutError struct {
	Method  string
	URL     string
	Limit   time.Duration
	Stalled bool
}

// Error describes the failure.
func (e *TimeoutError) Error() string {
	if e.Stalled {
		return fmt.Sprintf("dicomweb: %s %s: no progress for %s (Options.StallTimeout)", e.Method, e.URL, e.Limit)
	}
	return fmt.Sprintf("dicomweb: %s %s: no complete answer within %s (Options.Timeout)", e.Method, e.URL, e.Limit)
}

// Is reports whether target is ErrTimeout.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// TransportError is a request that got no HTTP answer after every retry.
type TransportError struct {
	Method   string
	URL      string
	Attempts int
	Err      error
}

// Error describes the failure.
func (e *TransportError) Error() string {
	return fmt.Sprintf("dicomweb: %s %s: %v (after %d attempts)", e.Method, e.URL, e.Err, e.Attempts)
}

// Is reports whether target is ErrTransport.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }

// Unwrap returns the underlying network error.
func (e *TransportError) Unwrap() error { return e.Err }
