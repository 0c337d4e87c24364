package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhpnet/node/segmentation"
	"github.com/mhpnet/node/segmentation/metrics"
	"github.com/mhpnet/node/volume"
)

// evalFlags are the options of node eval.
type evalFlags struct {
	models []string
	data   []string
	report string
}

func newEvalCmd() *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval --data DIR... [--model M]... [--report DIR]",
		Short: "Evaluate a model on CT series with ground-truth masks",
		Long: `eval segments each IRCAD-style patient folder (PATIENT_DICOM + MASKS_DICOM) and
compares the result with the masks, stage by stage:

  liver   Dice, volume error (%), mean and 95th-percentile surface distance (mm)
          of predicted liver ∪ tumors against true liver ∪ tumors;
  tumor   Dice per case inside the TRUE liver (the tumor stage alone) and end
          to end (inside the predicted liver); per true tumor its volume, Dice
          and hit/miss; false-positive components and their mL; detection
          recall and precision;
  time    of each stage.

Without --model the embedded model is evaluated. Repeat --model to compare
models (e.g. one trained with --no-hessian); a summary table ends the output.
With --report, the output is also written to DIR/report.txt with overlay PNGs
(CT | truth | prediction) of the slices through each tumor and the worst
slices.`,
		Example: `  node eval --data .testdata/ircadb/3Dircadb1.17 --report report-1.17
  node eval --model model-1.17.mhp --data .testdata/ircadb/3Dircadb1.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(f.data) == 0 {
				return usageErrorf("eval: --data is required (see 'node eval --help')")
			}
			return runEval(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.models, "model", nil, "model file (repeat to compare; default the embedded model)")
	fl.StringSliceVar(&f.data, "data", nil, "IRCAD patient folder (PATIENT_DICOM + MASKS_DICOM); repeat for several")
	fl.StringVar(&f.report, "report", "", "folder for report.txt and overlay PNGs")
	return cmd
}

type namedModel struct {
	name string
	m    *segmentation.Model
}

// summaryRow is one line of the closing comparison table.
type summaryRow struct {
	model, data                                  string
	liverDice, volErr, tumorTrue, tumorE2E, fpML float64
	fp, hits, truths                             int
	liverS, tumorS                               float64
}

func runEval(ctx context.Context, stdout io.Writer, f evalFlags) error {
	var models []namedModel
	// two models (or cases) of one base name get -2, -3: their overlay
	// files and summary rows must not collide
	seenModels, seenCases := map[string]int{}, map[string]int{}
	if len(f.models) == 0 {
		m, err := segmentation.DefaultModel()
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		models = append(models, namedModel{"embedded", m})
	}
	for _, p := range f.models {
		m, err := segmentation.LoadModel(p)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		models = append(models, namedModel{uniqueName(seenModels, filepath.Base(p), true), m})
	}
	w := stdout
	var rep *os.File
	if f.report != "" {
		if err := os.MkdirAll(f.report, 0o755); err != nil {
			return usageErrorf("eval: --report %s: %v", f.report, err)
		}
		var err error
		if rep, err = os.Create(filepath.Join(f.report, "report.txt")); err != nil {
			return usageErrorf("eval: --report %s: %v", f.report, err)
		}
		defer rep.Close()
		w = io.MultiWriter(stdout, rep)
	}
	var rows []summaryRow
	for _, d := range f.data {
		ct, truth, err := loadCase(ctx, d)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		name := uniqueName(seenCases, caseName(d), false)
		for _, nm := range models {
			ev, err := segmentation.Evaluate(ctx, nm.m, ct, truth)
			if err != nil {
				return fmt.Errorf("eval: %s: %w", name, err)
			}
			printEvaluation(w, name, nm, ev)
			data := name
			if trainedOn(nm.m, name) {
				data += " (train)"
			}
			rows = append(rows, summaryRow{
				model: nm.name, data: data,
				liverDice: ev.Liver.Dice, volErr: ev.Liver.VolumeErrorPercent,
				tumorTrue: ev.TumorTrueLiver.Dice, tumorE2E: ev.TumorEndToEnd.Dice,
				fp: ev.DetectionEndToEnd.FalsePositives, fpML: ev.DetectionEndToEnd.FalsePositiveML,
				hits: ev.DetectionEndToEnd.Hits, truths: len(ev.DetectionEndToEnd.Tumors),
				liverS: ev.EndToEnd.Timings.Liver.Seconds(), tumorS: ev.EndToEnd.Timings.Tumor.Seconds(),
			})
			if f.report != "" {
				if err := writeOverlays(f.report, name, nm.name, ct, truth, ev.EndToEnd.Labels, w); err != nil {
					return fmt.Errorf("eval: %w", err)
				}
			}
		}
	}
	fmt.Fprintf(w, "\nsummary\n%-22s %-20s %7s %8s %9s %9s %5s %8s %6s %7s %7s\n",
		"model", "data", "liver", "vol err", "tum@true", "tum e2e", "FP", "FP mL", "hits", "liver s", "tumor s")
	for _, r := range rows {
		fmt.Fprintf(w, "%-22s %-20s %7.4f %7.1f%% %9.4f %9.4f %5d %8.2f %3d/%-2d %7.2f %7.2f\n",
			r.model, r.data, r.liverDice, r.volErr, r.tumorTrue, r.tumorE2E, r.fp, r.fpML, r.hits, r.truths, r.liverS, r.tumorS)
	}
	return nil
}

// uniqueName returns name, or name-2, name-3 … when seen has it already;
// with keepExt the number goes before the extension (model-2.mhp).
func uniqueName(seen map[string]int, name string, keepExt bool) string {
	seen[name]++
	n := seen[name]
	if n == 1 {
		return name
	}
	if keepExt {
		ext := filepath.Ext(name)
		return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(name, ext), n, ext)
	}
	return fmt.Sprintf("%s-%d", name, n)
}

// trainedOn reports whether the case folder name is one of the model's
// training patients (its provenance records their folder names, resolved
// as caseName does; a "-2" suffix never matches).
func trainedOn(m *segmentation.Model, caseName string) bool {
	for _, d := range m.Config().Provenance.Data {
		if d == caseName {
			return true
		}
	}
	return false
}

func printEvaluation(w io.Writer, caseName string, nm namedModel, ev *segmentation.Evaluation) {
	p := nm.m.Config().Provenance
	fmt.Fprintf(w, "\n== %s, model %s (trained on %s, %d tumors, Hessian %v)\n", caseName, nm.name,
		strings.Join(p.Data, "+"), p.Tumors, nm.m.Config().Tumor.UseHessian)
	if trainedOn(nm.m, caseName) {
		fmt.Fprintf(w, "note     %s is one of this model's training patients (by folder name): these figures show fit, not accuracy on unseen patients\n", caseName)
	}
	l := ev.Liver
	fmt.Fprintf(w, "liver    Dice %.4f  volume %.0f mL (true %.0f mL, error %+.1f%%)  surface mean %.2f mm, p95 %.2f mm\n",
		l.Dice, l.PredML, l.TruthML, l.VolumeErrorPercent, ev.LiverSurface.MeanMM, ev.LiverSurface.P95MM)
	fmt.Fprintf(w, "tumor    Dice per case: inside the true liver %.4f, end to end %.4f  (true %.1f mL; predicted %.1f / %.1f mL)\n",
		ev.TumorTrueLiver.Dice, ev.TumorEndToEnd.Dice, ev.TumorTrueLiver.TruthML, ev.TumorTrueLiver.PredML, ev.TumorEndToEnd.PredML)
	for _, pair := range []struct {
		name string
		d    *metrics.Detection
	}{{"true liver", ev.DetectionTrueLiver}, {"end to end", ev.DetectionEndToEnd}} {
		d := pair.d
		fmt.Fprintf(w, "detect   %-10s recall %.2f (%d/%d)  precision %.2f  FP components %d (%.2f mL)\n",
			pair.name, d.Recall, d.Hits, len(d.Tumors), d.Precision, d.FalsePositives, d.FalsePositiveML)
	}
	for i, t := range ev.DetectionTrueLiver.Tumors {
		e := ev.DetectionEndToEnd.Tumors[i]
		fmt.Fprintf(w, "  tumor %d  %7.2f mL  true-liver Dice %.3f %-4s  end-to-end Dice %.3f %s\n",
			t.ID, t.VolumeML, t.Dice, hitWord(t.Hit), e.Dice, hitWord(e.Hit))
	}
	for _, c := range ev.DetectionEndToEnd.Predicted {
		if len(c.Truth) == 0 {
			fmt.Fprintf(w, "  FP component %d  %.2f mL at LPS (%.0f, %.0f, %.0f)\n", c.ID, c.VolumeML, c.CentroidLPS[0], c.CentroidLPS[1], c.CentroidLPS[2])
		}
	}
	r := ev.EndToEnd
	fmt.Fprintf(w, "measure  liver %.0f mL, %d tumors, burden %.1f%%, parenchyma median %.0f HU\n",
		r.Liver.VolumeML, len(r.Tumors), r.Liver.TumorBurdenPercent, r.LiverMedianHU)
	if len(r.Flags) > 0 {
		fmt.Fprintf(w, "flags    %s\n", strings.Join(r.Flags, ", "))
	}
	fmt.Fprintf(w, "time     liver %.2f s, tumor %.2f s, measure %.2f s, total %.2f s (end to end)\n",
		r.Timings.Liver.Seconds(), r.Timings.Tumor.Seconds(), r.Timings.Measure.Seconds(), r.Timings.Total.Seconds())
}

func hitWord(h bool) string {
	if h {
		return "hit"
	}
	return "MISS"
}

func writeOverlays(dir, caseName, model string, ct *volume.Volume, truth, pred *volume.LabelVolume, w io.Writer) error {
	zs := segmentation.ReportSlices(truth, pred, 12)
	var names []string
	for _, z := range zs {
		name := fmt.Sprintf("%s_%s_z%03d.png", caseName, strings.TrimSuffix(model, filepath.Ext(model)), z)
		fh, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = segmentation.WriteOverlayPNG(fh, ct, truth, pred, z)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		names = append(names, name)
	}
	fmt.Fprintf(w, "overlays %s (CT | truth | prediction; liver green, tumor red)\n", strings.Join(names, " "))
	return nil
}
