package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhpnet/node/segmentation"
)

// TestExitCodes checks the exit codes scripts rely on for mistakes on the
// command line itself: each must be ExitUsage with a message naming the
// problem, never ExitOK (help printed as if it had worked) nor ExitFailure.
func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("not DICOM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"no command prints help", nil, ExitOK, ""},
		{"group without subcommand prints help", []string{"jobs"}, ExitOK, ""},
		{"unknown command", []string{"bogus"}, ExitUsage, `unknown command "bogus" for "node"`},
		{"misspelt command suggests", []string{"inspekt"}, ExitUsage, "inspect"},
		{"unknown jobs subcommand", []string{"jobs", "bogus"}, ExitUsage, `unknown command "bogus" for "node jobs"`},
		{"unknown rules subcommand", []string{"rules", "chek"}, ExitUsage, `unknown command "chek" for "node rules"`},
		{"inspect without DIR", []string{"inspect"}, ExitUsage, "accepts 1 arg(s), received 0"},
		{"inspect with two DIRs", []string{"inspect", "a", "b"}, ExitUsage, "accepts 1 arg(s), received 2"},
		{"version with an argument", []string{"version", "extra"}, ExitUsage, `unknown command "extra" for "node version"`},
		{"jobs show without ID", []string{"jobs", "show"}, ExitUsage, "accepts 1 arg(s), received 0"},
		{"jobs results with a study that is not a UID", []string{"jobs", "results", "--study", "CRLM"}, ExitUsage, `jobs results: --study "CRLM" is not a DICOM UID`},
		{"jobs list with --limit 0", []string{"jobs", "list", "--limit", "0"}, ExitUsage, "jobs: --limit must be at least 1, got 0"},
		{"unknown flag", []string{"inspect", "--bogus", "."}, ExitUsage, "unknown flag: --bogus"},
		{"inspect of a missing folder", []string{"inspect", missing}, ExitUsage, "no such file or directory"},
		{"inspect of a folder without DICOM", []string{"inspect", empty}, ExitRefused, "no usable CT series"},
		{"train with a negative liver patch", []string{"train", "--data", empty, "--out", filepath.Join(empty, "m.mhp"), "--liver-patch", "-1"}, ExitUsage, "--liver-patch -1: want 4..48"},
		{"train with a huge liver patch", []string{"train", "--data", empty, "--out", filepath.Join(empty, "m.mhp"), "--liver-patch", "1000000"}, ExitUsage, "--liver-patch 1000000: want 4..48"},
		{"segment with --overlay equal to --out", []string{"segment", "--in", empty, "--out", filepath.Join(empty, "s.dcm"), "--overlay", filepath.Join(empty, "s.dcm")}, ExitUsage, "--overlay and --out both name"},
		{"eval with an impossible --report", []string{"eval", "--data", empty, "--report", filepath.Join(empty, "notes.txt", "rep")}, ExitUsage, "eval: --report"},
	}
	notAModel := filepath.Join(t.TempDir(), "model.mhp")
	if err := os.WriteFile(notAModel, []byte("not a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	badModelConfig := writeConfig(t, fmt.Sprintf("pacs:\n  url: http://127.0.0.1:1/dicom-web\nnode:\n  data_dir: %s\nmodel:\n  path: %s\n",
		t.TempDir(), notAModel))
	tests = append(tests, struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{"serve with model.path not a model", []string{"serve", "--config", badModelConfig}, ExitUsage, "not a valid model file"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := execute(t, tt.args...)
			if got := exitCode(err); got != tt.want {
				t.Fatalf("exit code %d, want %d (error: %v)", got, tt.want, err)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestClassify maps the typed errors of the packages to exit codes.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"model file not a model", fmt.Errorf("load: %w", segmentation.ErrModelFormat), ExitUsage},
		{"model with unusable values", fmt.Errorf("load: %w", segmentation.ErrModelInvalid), ExitUsage},
		{"CT volume the model cannot take", fmt.Errorf("segment: %w", segmentation.ErrInput), ExitRefused},
		{"missing path", fmt.Errorf("reading: %w", fs.ErrNotExist), ExitUsage},
		{"anything else", errors.New("disk full"), ExitFailure},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("%s: classify(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}
