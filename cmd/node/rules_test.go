package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhpnet/node/config"
	"github.com/mhpnet/node/internal/testdata"
)

// execute runs the CLI in-process and returns stdout and the error.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const rulesDoc = `pacs:
  url: http://127.0.0.1:1/dicom-web
  name: orthanc
routing:
  rules:
    - name: no-mr
      action: skip
      match: {modality: [MR]}
    - name: ct-contrast
      action: process
      match:
        modality: [CT]
        contrast_bolus_agent: present
        slice_thickness: {max: 5}
`

func TestRulesCheckDir(t *testing.T) {
	dir := testdata.CT(t, "ct/crlm-ct-1004")
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"contrast CT processed", rulesDoc, []string{
			"series 1.3.6.1.4.1.14519.5.2.1.9203.8273.254242588659825836950462054011  #2 CT \"CT CH/AB/PEL\"",
			`PROCESS: rule "ct-contrast" (#2) matched (Modality CT; ContrastBolusAgent present; SliceThickness 5 mm in [-inf, 5]): process`,
			`- rule "no-mr" (#1) did not match: Modality "CT" not in [MR]`,
		}},
		{"thin slices only: skipped with the reason", strings.Replace(rulesDoc, "{max: 5}", "{max: 3}", 1), []string{
			"SKIP: no rule matched: default action skip",
			`- rule "ct-contrast" (#2) did not match: SliceThickness 5 mm not in [-inf, 3]`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execute(t, "rules", "check", "--config", writeConfig(t, tc.doc), "--dir", dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRulesCheckInvalidConfig(t *testing.T) {
	p := writeConfig(t, strings.Replace(rulesDoc, "action: skip", "action: ignore", 1)+"    - name: bad\n      action: process\n      match: {series_description: \"(\"}\n")
	_, err := execute(t, "rules", "check", "--config", p)
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("err = %v, want config.ErrInvalid", err)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitUsage {
		t.Errorf("exit code: %v, want %d", err, ExitUsage)
	}
	for _, w := range []string{
		p + `:7:7: routing.rules[0].action: action "ignore" is not one of process, skip`,
		p + `:17:15: routing.rules[2].match.series_description: regular expression "("`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestJobsOnEmptyStore(t *testing.T) {
	doc := rulesDoc + "node:\n  data_dir: " + t.TempDir() + "\nnats:\n  embedded:\n    listen: \"\"\n"
	p := writeConfig(t, doc)
	out, err := execute(t, "jobs", "list", "--config", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "0 queued (waiting, running or waiting to retry), 0 dead-lettered") {
		t.Errorf("jobs list:\n%s", out)
	}
	_, err = execute(t, "jobs", "retry", "--config", p, "1.2.3@mhpnet-x")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitFailure || !strings.Contains(err.Error(), "job not found: no dead-lettered job 1.2.3@mhpnet-x") {
		t.Errorf("retry of an unknown job: %v", err)
	}
}

// TestRulesCheckDirJSONAllRefused: with every series refused, --json gives
// "decisions": [] (scripts iterate it), not null.
func TestRulesCheckDirJSONAllRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not DICOM"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, "rules", "check", "--config", writeConfig(t, rulesDoc), "--dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Decisions []json.RawMessage `json:"decisions"`
		Refused   []string          `json:"refused"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Decisions == nil || len(got.Decisions) != 0 || got.Refused == nil {
		t.Errorf("decisions %v, refused %v; want [] and a list:\n%s", got.Decisions, got.Refused, out)
	}
}
