package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mhpnet/node/dicom"
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

// TestInspectInterrupted: Ctrl-C while the HU ranges are decoded ends
// inspect with the interruption (exit 1), not with a report in which the
// series not yet decoded are listed as refused ("context canceled") and
// the exit code says success.
func TestInspectInterrupted(t *testing.T) {
	dir := testdata.CT(t, "ct/crlm-ct-1004")
	sc, err := dicom.ReadDir(context.Background(), dir, readerOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Series) != 1 {
		t.Fatalf("%d series, want 1", len(sc.Series))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := describeScan(ctx, dir, sc, true)
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Fatalf("describeScan after Ctrl-C = %+v, %v; want no report and context.Canceled", rep, err)
	}
	if code := exitCode(err); code != ExitFailure {
		t.Errorf("exit code %d, want %d", code, ExitFailure)
	}
	rep, err = describeScan(context.Background(), dir, sc, true)
	if err != nil || len(rep.Series) != 1 || rep.Series[0].HUMax == nil || *rep.Series[0].HUMax != 1377 {
		t.Fatalf("describeScan = %+v, %v; want 1 series with HU max 1377", rep, err)
	}
}
