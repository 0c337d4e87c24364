package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Intake names the ways a study is announced.
const (
	IntakeNATS    = "nats"
	IntakeWebhook = "webhook"
	IntakePoller  = "poller"
)

// StudyEvent announces that a study is complete (stable) in a PACS. The same
// JSON arrives on the NATS subject dicom.study.arrived, in the webhook body
// and from the poller:
//
//	{"source": "orthanc", "StudyInstanceUID": "1.2.3", "SeriesInstanceUIDs": ["1.2.3.4"]}
type StudyEvent struct {
	// Source names the PACS; empty means the node's configured PACS.
	Source string `json:"source,omitempty"`
	// StudyInstanceUID is required.
	StudyInstanceUID string `json:"StudyInstanceUID"`
	// SeriesInstanceUIDs limits the study to these series; empty means all.
	SeriesInstanceUIDs []string `json:"SeriesInstanceUIDs,omitempty"`
	// Intake is set by the node: nats, webhook or poller.
	Intake string `json:"intake,omitempty"`
	// Time is when the event was made.
	Time time.Time `json:"time,omitempty"`
	// ID is an optional PACS-side identifier (Orthanc's study id), logged only.
	ID string `json:"ID,omitempty"`
}

// maxEventBytes bounds an event; a study with thousands of listed series
// still fits.
const maxEventBytes = 1 << 20

// uidPattern is a DICOM UID (PS3.5 §9.1): digits and dots, at most 64 characters.
var uidPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$`)

// ValidUID reports whether s is a syntactically valid DICOM UID.
func ValidUID(s string) bool { return len(s) <= 64 && uidPattern.MatchString(s) }

// sourcePattern keeps a source usable in logs and as a rule value.
var sourcePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

// ParseStudyEvent decodes and validates an event. Unknown fields are
// ignored (bridges may add their own); a bad UID is refused.
func ParseStudyEvent(data []byte) (StudyEvent, error) {
	var ev StudyEvent
	if len(data) > maxEventBytes {
		return ev, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidEvent, len(data), maxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("%w: not the expected JSON object: %v", ErrInvalidEvent, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ev, fmt.Errorf("%w: trailing data after the JSON object: send exactly one object", ErrInvalidEvent)
	}
	return ev, ev.Validate()
}

// clip shortens a refused value quoted in an error, which goes back to the
// sender and into the log.
func clip(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + fmt.Sprintf("... (%d bytes)", len(s))
}

// Validate checks the UIDs and the source.
func (ev StudyEvent) Validate() error {
	if !ValidUID(ev.StudyInstanceUID) {
		return fmt.Errorf("%w: StudyInstanceUID %q is not a DICOM UID (digits and dots, at most 64 characters)", ErrInvalidEvent, clip(ev.StudyInstanceUID))
	}
	if len(ev.SeriesInstanceUIDs) > 10000 {
		return fmt.Errorf("%w: %d series listed, at most 10000", ErrInvalidEvent, len(ev.SeriesInstanceUIDs))
	}
	for _, s := range ev.SeriesInstanceUIDs {
		if !ValidUID(s) {
			return fmt.Errorf("%w: SeriesInstanceUID %q is not a DICOM UID", ErrInvalidEvent, clip(s))
		}
	}
	if !sourcePattern.MatchString(ev.Source) {
		return fmt.Errorf("%w: source %q: use letters, digits, - or _ (at most 64)", ErrInvalidEvent, clip(ev.Source))
	}
	return nil
}
