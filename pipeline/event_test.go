package pipeline

import (
	"errors"
	"strings"
	"testing"
)

func TestParseStudyEventRefusals(t *testing.T) {
	good := `{"source":"orthanc","StudyInstanceUID":"1.2.3","SeriesInstanceUIDs":["1.2.3.4"]}`
	long := "1." + strings.Repeat("2", 5000)
	tests := []struct {
		name    string
		body    string
		wantErr string // empty: accepted
		maxLen  int    // bound on the error message, 0: not checked
	}{
		{"valid", good, "", 0},
		{"valid with trailing newline", good + "\n", "", 0},
		{"trailing garbage", good + " garbage", "trailing data after the JSON object", 0},
		{"two objects", good + good, "trailing data after the JSON object", 0},
		{"truncated", `{"source":`, "not the expected JSON object", 0},
		{"array", `[1,2]`, "not the expected JSON object", 0},
		{"bad study UID", `{"StudyInstanceUID":"abc"}`, `StudyInstanceUID "abc" is not a DICOM UID`, 0},
		{"bad series UID", `{"StudyInstanceUID":"1.2","SeriesInstanceUIDs":["../etc"]}`, `SeriesInstanceUID "../etc" is not a DICOM UID`, 0},
		// A long bad value is quoted clipped, not echoed whole into the
		// HTTP answer and the log.
		{"very long study UID", `{"StudyInstanceUID":"` + long + `"}`, `StudyInstanceUID "1.222`, 300},
		{"very long series UID", `{"StudyInstanceUID":"1.2","SeriesInstanceUIDs":["` + long + `"]}`, `SeriesInstanceUID "1.222`, 300},
		{"very long source", `{"source":"` + strings.Repeat("x", 5000) + `","StudyInstanceUID":"1.2"}`, `source "xxx`, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseStudyEvent([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if ev.StudyInstanceUID != "1.2.3" || len(ev.SeriesInstanceUIDs) != 1 || ev.Source != "orthanc" {
					t.Fatalf("decoded %+v", ev)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("error %v, want ErrInvalidEvent", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.maxLen > 0 && len(err.Error()) > tt.maxLen {
				t.Fatalf("error is %d bytes long, want at most %d: %.120s...", len(err.Error()), tt.maxLen, err)
			}
		})
	}
}
