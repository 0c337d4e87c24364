package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
)

// runInspect runs "node inspect args..." and returns stdout, the error and
// the exit code main would use.
func runInspect(t *testing.T, args ...string) (string, error, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"inspect"}, args...))
	err := root.ExecuteContext(context.Background())
	code := ExitOK
	if err != nil {
		var ce *exitError
		if errors.As(err, &ce) {
			code = ce.code
		} else {
			code = classify(err)
		}
	}
	return out.String(), err, code
}

func TestInspect(t *testing.T) {
	tests := []struct {
		name     string
		dir      func(t *testing.T) string
		json     bool
		wantCode int
		want     []string
		absent   []string
	}{
		{
			name:     "CRLM-CT-1004",
			dir:      func(t *testing.T) string { return testdata.CT(t, "ct/crlm-ct-1004") },
			wantCode: ExitOK,
			want: []string{"1 usable series", "1.3.6.1.4.1.14519.5.2.1.9203.8273.254242588659825836950462054011",
				"41 of 512 x 512", "0.7969 x 0.7969 x 5 mm", "(-198.200, -204.000, -375.000)", "HU range           -1024 .. 1377",
				"Explicit VR Little Endian", "stored -2000, read as -1024 HU"},
			absent: []string{"CRLM-CT-1004"}, // PatientName and PatientID: never printed
		},
		{
			name:     "TotalSegmentator: refused, exit 3",
			dir:      func(t *testing.T) string { return testdata.Shared(t, "data/totalsegmentator-example") },
			wantCode: ExitRefused,
			want:     []string{"0 usable series, 1 refused", "SeriesInstanceUID (0020,000E)"},
		},
		{
			name:     "dicom-bad as JSON",
			dir:      func(t *testing.T) string { return testdata.Shared(t, "data/dicom-bad") },
			json:     true,
			wantCode: ExitOK, // CT_small.dcm is usable
			want:     []string{`"slices": 1`, `"reason": "secondary capture, not a CT slice"`, `not a CT series: Modality \"MR\"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{tc.dir(t)}
			if tc.json {
				args = append([]string{"--json"}, args...)
			}
			out, err, code := runInspect(t, args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d (err %v), want %d", code, err, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output holds %q", a)
				}
			}
			if tc.json {
				var rep map[string]any
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
		})
	}
}
