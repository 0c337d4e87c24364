package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/segmentation"
)

// TestSegmentSEGMatchesEval shows that the SEG `node segment` writes for
// IRCAD 1.17 with the embedded model, read back independently (pydicom,
// testdata/segdice.py), gives the liver and end-to-end tumor Dice that
// `node eval` computes in memory (issue 10).
func TestSegmentSEGMatchesEval(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the embedded model twice on IRCAD 1.17")
	}
	ctx := context.Background()
	patient := testdata.CT(t, "ircadb/3Dircadb1.17")
	ctDir, masksDir := filepath.Join(patient, "PATIENT_DICOM"), filepath.Join(patient, "MASKS_DICOM")
	out := filepath.Join(t.TempDir(), "seg.dcm")
	if code := run(ctx, []string{"segment", "--in", ctDir, "--out", out}); code != ExitOK {
		t.Fatalf("node segment exited %d", code)
	}

	cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "segdice.py"), out, ctDir, masksDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("segdice.py: %v\n%s\n(needs Debian python3-pydicom and python3-numpy: make setup)", err, stderr.String())
	}
	var got struct {
		LiverVoxels, TumorVoxels int
		LiverDice                float64 `json:"liver_dice"`
		TumorDice                float64 `json:"tumor_dice"`
		Errors                   []string
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("segdice.py output %q: %v", raw, err)
	}
	if len(got.Errors) > 0 {
		t.Fatalf("SEG frames disagree with their source slices: %v", got.Errors)
	}

	series, err := dicom.ReadSeries(ctx, ctDir, readerOptions())
	if err != nil {
		t.Fatal(err)
	}
	ct, err := series.LoadVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := dicom.ReadIRCADMasks(ctx, masksDir, series.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	m, err := segmentation.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := segmentation.Evaluate(ctx, m, ct, truth)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		seg, eval float64
	}{
		{"liver Dice", got.LiverDice, ev.Liver.Dice},
		{"tumor Dice end to end", got.TumorDice, ev.TumorEndToEnd.Dice},
	} {
		if math.Abs(c.seg-c.eval) > 1e-9 {
			t.Errorf("%s: SEG read back with pydicom gives %.6f, node eval %.6f", c.name, c.seg, c.eval)
		}
	}
	t.Logf("liver Dice %.4f, tumor Dice end to end %.4f (SEG and eval agree)", got.LiverDice, got.TumorDice)
}
