package main

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/internal/testdata"
)

// runSegmentCmd runs "node segment args..." and returns stdout, stderr and
// the exit code main would use.
func runSegmentCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"segment"}, args...))
	err := root.ExecuteContext(context.Background())
	code := ExitOK
	if err != nil {
		errOut.WriteString(err.Error())
		var ce *exitError
		if errors.As(err, &ce) {
			code = ce.code
		} else {
			code = classify(err)
		}
	}
	return out.String(), errOut.String(), code
}

func TestSegmentCommand(t *testing.T) {
	ircad := func(t *testing.T) string { return testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM") }
	masks := func(t *testing.T) string { return testdata.CT(t, "ircadb/3Dircadb1.1/MASKS_DICOM") }
	dcmqi := func(t *testing.T) string { return testdata.Shared(t, "data/dcmqi/ct-3slice") }
	tests := []struct {
		name       string
		args       func(t *testing.T, out string) []string
		wantCode   int
		wantOut    []string
		wantErr    []string
		wantOutput bool
		// For a written SEG: frames, referenced instances, SeriesNumber and
		// SeriesDescription as the reader prints them.
		wantFrames, wantRefs int
		wantSeries           string
		wantDescription      string
	}{
		{
			name: "IRCAD 1.1 with its masks",
			args: func(t *testing.T, out string) []string {
				return []string{"--in", ircad(t), "--labels", masks(t), "--out", out, "--series-number", "77"}
			},
			wantCode: ExitOK,
			// README-ct.md: liver 2,865,131 voxels (1489.41 mL) on slices
			// 27–124; the 7 tumors 214,268 voxels (111.385 mL) on 48–123.
			wantOut: []string{"frames   174", "98 frames (slices 27-124), 2865131 voxels, 1489.4 mL",
				"76 frames (slices 48-123), 214268 voxels, 111.4 mL", "liver    1489.4 mL"},
			wantErr:    []string{"has no FrameOfReferenceUID"},
			wantOutput: true,
			wantFrames: 174, wantRefs: 129, wantSeries: "[77]", wantDescription: "[MHP-Net liver and tumor]",
		},
		{
			// The dcmqi CT has 3 slices (3 mm of abdomen): the embedded model
			// finds a sliver of liver whose volume fails the plausibility
			// gate, so the SEG is written and flagged, never silently stored.
			name:     "embedded model, implausible liver flagged",
			args:     func(t *testing.T, out string) []string { return []string{"--in", dcmqi(t), "--out", out} },
			wantCode: ExitOK,
			wantOut: []string{"model    mhpnet-", "segment  2 Liver tumor  empty",
				"FLAG     implausible-liver-volume"},
			wantOutput: true,
			wantFrames: 3, wantRefs: 3, wantSeries: "[9901]", wantDescription: "[" + seg.FlaggedSeriesDescription + "]",
		},
		{
			name:     "missing --out",
			args:     func(t *testing.T, out string) []string { return []string{"--in", dcmqi(t)} },
			wantCode: ExitUsage,
			wantErr:  []string{"--in and --out are required"},
		},
		{
			name:     "--out is a folder",
			args:     func(t *testing.T, out string) []string { return []string{"--in", dcmqi(t), "--out", filepath.Dir(out)} },
			wantCode: ExitUsage,
			wantErr:  []string{"is a folder; give the SEG file's name"},
		},
		{
			name: "--out in a missing folder",
			args: func(t *testing.T, out string) []string {
				return []string{"--in", dcmqi(t), "--out", filepath.Join(out, "x", "seg.dcm")}
			},
			wantCode: ExitUsage,
			wantErr:  []string{"is not an existing folder"},
		},
		{
			name: "--labels is not a MASKS_DICOM folder",
			args: func(t *testing.T, out string) []string {
				return []string{"--in", dcmqi(t), "--out", out, "--labels", dcmqi(t)}
			},
			wantCode: ExitRefused,
			wantErr:  []string{"is not an IRCAD MASKS_DICOM folder"},
		},
		{
			name: "labels and model together",
			args: func(t *testing.T, out string) []string {
				return []string{"--in", dcmqi(t), "--out", out, "--labels", "x", "--model", "y"}
			},
			wantCode: ExitUsage,
			wantErr:  []string{"exclude each other"},
		},
		{
			name: "masks of another grid",
			args: func(t *testing.T, out string) []string {
				return []string{"--in", dcmqi(t), "--labels", masks(t), "--out", out}
			},
			wantCode: ExitRefused,
			wantErr:  []string{"PixelSpacing"},
		},
		{
			name:     "folder without CT",
			args:     func(t *testing.T, out string) []string { return []string{"--in", t.TempDir(), "--out", out} },
			wantCode: ExitRefused,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "seg.dcm")
			stdout, stderr, code := runSegmentCmd(t, tc.args(t, out)...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stdout+stderr, "liver_01") {
				t.Error("the patient name was printed")
			}
			_, err := os.Stat(out)
			if tc.wantOutput != (err == nil) {
				t.Fatalf("output exists = %v, want %v", err == nil, tc.wantOutput)
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			if !tc.wantOutput {
				return
			}
			sg, err := seg.ReadFile(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			if len(sg.Frames) != tc.wantFrames || len(sg.ReferencedInstances) != tc.wantRefs {
				t.Errorf("SEG has %d frames and %d referenced instances, want %d and %d", len(sg.Frames), len(sg.ReferencedInstances), tc.wantFrames, tc.wantRefs)
			}
			e, err := sg.Dataset.FindElementByTag(tag.SeriesNumber)
			if err != nil || e.Value.String() != tc.wantSeries {
				t.Errorf("SeriesNumber = %v (%v), want %s", e, err, tc.wantSeries)
			}
			e, err = sg.Dataset.FindElementByTag(tag.SeriesDescription)
			if err != nil || e.Value.String() != tc.wantDescription {
				t.Errorf("SeriesDescription = %v (%v), want %s", e, err, tc.wantDescription)
			}
		})
	}
}

// TestSegmentOverlay checks --overlay on IRCAD 1.1 with its masks: one
// CT | result picture through each of the six largest of its seven tumors
// and one through the largest liver slice, each two 512-pixel panels wide.
func TestSegmentOverlay(t *testing.T) {
	dir := t.TempDir()
	ov := filepath.Join(dir, "overlays")
	out, errOut, code := runSegmentCmd(t, "--in", testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM"),
		"--labels", testdata.CT(t, "ircadb/3Dircadb1.1/MASKS_DICOM"), "--out", filepath.Join(dir, "seg.dcm"), "--overlay", ov)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "overlays ") {
		t.Fatalf("no overlays line in:\n%s", out)
	}
	files, err := filepath.Glob(filepath.Join(ov, "z*.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 || len(files) > 7 {
		t.Fatalf("%d overlay files %v, want 2..7 (six tumor slices and the largest liver slice, some may coincide)", len(files), files)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if cfg.Width != 1024 || cfg.Height != 512 {
			t.Errorf("%s is %dx%d, want 1024x512", f, cfg.Width, cfg.Height)
		}
	}
}
