package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/segmentation"
	"github.com/mhpnet/node/volume"
)

// trainFlags are the options of node train.
type trainFlags struct {
	data                   []string
	out                    string
	seed                   int64
	noHessian              bool
	liverSteps, tumorSteps int
	batch                  int
	liverPatch             int
	liverFrom              string
	absoluteHU             bool
	aniso, elastic         float64
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --data DIR... --out MODEL.mhp",
		Short: "Train an MHP-Net model on CT series with liver and tumor masks",
		Long: `train fits both MHP-Net stages (the coarse liver network and the tumor network
with its Hessian channel) on IRCAD-style patient folders: each DIR holds
PATIENT_DICOM (the CT series) and MASKS_DICOM (liver and livertumor* mask
series on the same grid). Training is deterministic for a given seed and
build. A progress bar shows the step, the loss and the time left; the
command prints the training time at the end.

Exit codes: 0 model written; 1 failure; 2 bad flags; 3 a series or its masks
were refused (the message says why).`,
		Example: `  node train --data .testdata/ircadb/3Dircadb1.1 --out model-1.1.mhp
  node train --data .testdata/ircadb/3Dircadb1.17 --out model-1.17.mhp --no-hessian`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(f.data) == 0 || f.out == "" {
				return usageErrorf("train: --data and --out are required (see 'node train --help')")
			}
			if f.liverSteps < 0 || f.tumorSteps < 0 || f.batch < 0 || f.liverSteps > 1_000_000 || f.tumorSteps > 1_000_000 || f.batch > segmentation.MaxBatch {
				return usageErrorf("train: steps must be in 0..1000000 and --batch in 0..%d (0 = default)", segmentation.MaxBatch)
			}
			if f.liverPatch != 0 && (f.liverPatch < segmentation.MinPatch || f.liverPatch > segmentation.MaxPatch) {
				return usageErrorf("train: --liver-patch %d: want %d..%d coarse voxels (0 = default 24)", f.liverPatch, segmentation.MinPatch, segmentation.MaxPatch)
			}
			return runTrain(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.data, "data", nil, "IRCAD patient folder (PATIENT_DICOM + MASKS_DICOM); repeat or comma-separate for several")
	fl.StringVar(&f.out, "out", "", "model file to write")
	fl.Int64Var(&f.seed, "seed", 1, "random seed (weights, patch sampling, augmentation)")
	fl.BoolVar(&f.noHessian, "no-hessian", false, "train the tumor stage on CT alone (ablation of the Hessian channel)")
	fl.IntVar(&f.liverSteps, "liver-steps", 0, "optimiser steps of the liver stage (0 = default)")
	fl.IntVar(&f.tumorSteps, "tumor-steps", 0, "optimiser steps of the tumor stage (0 = default)")
	fl.IntVar(&f.batch, "batch", 0, "patches per step (0 = default)")
	fl.IntVar(&f.liverPatch, "liver-patch", 0, "output edge in coarse voxels of a liver stage training patch (0 = default 24)")
	fl.Float64Var(&f.aniso, "liver-aniso", 0, "per-axis scale jitter of the liver stage's augmentation (0 = default 0.08)")
	fl.Float64Var(&f.elastic, "liver-elastic", 0, "amplitude in coarse voxels of the liver stage's elastic deformation (0 = default 2, negative = none)")
	fl.BoolVar(&f.absoluteHU, "absolute-hu", false, "window the tumor stage's CT in absolute HU, not relative to the liver parenchyma median (ablation)")
	fl.StringVar(&f.liverFrom, "liver-from", "", "take the liver stage from this model file and train only the tumor stage")
	return cmd
}

// loadCase reads an IRCAD patient folder: the CT of PATIENT_DICOM and the
// labels of MASKS_DICOM (1 liver, 2 tumor) on its grid.
func loadCase(ctx context.Context, dir string) (*volume.Volume, *volume.LabelVolume, error) {
	series, err := dicom.ReadSeries(ctx, filepath.Join(dir, "PATIENT_DICOM"), dicom.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	ct, err := series.LoadVolume(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	labels, err := dicom.ReadIRCADMasks(ctx, filepath.Join(dir, "MASKS_DICOM"), ct.Geometry)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: masks: %w", dir, err)
	}
	return ct, labels, nil
}

// caseName names a patient folder by the base name of its absolute,
// symlink-resolved path ("." or a link name would not say which patient it
// is); node eval compares it with a model's provenance.
func caseName(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			dir = real
		}
	}
	return filepath.Base(filepath.Clean(dir))
}

func runTrain(ctx context.Context, stdout, stderr io.Writer, f trainFlags) error {
	var cases []segmentation.TrainCase
	for _, d := range f.data {
		ct, labels, err := loadCase(ctx, d)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		cases = append(cases, segmentation.TrainCase{Name: caseName(d), CT: ct, Labels: labels})
	}
	opts := segmentation.TrainOptions{
		Seed:            f.seed,
		NoHessian:       f.noHessian,
		AbsoluteHU:      f.absoluteHU,
		LiverAniso:      f.aniso,
		LiverElasticVox: f.elastic,
		LiverSteps:      f.liverSteps,
		TumorSteps:      f.tumorSteps,
		BatchSize:       f.batch,
		LiverPatch:      f.liverPatch,
		CodeVersion:     buildVersion(),
	}
	if f.liverFrom != "" {
		lm, err := segmentation.LoadModel(f.liverFrom)
		if err != nil {
			return fmt.Errorf("train: --liver-from: %w", err)
		}
		opts.LiverFrom = lm
	}
	var bar *progressbar.ProgressBar
	var barStage string
	// On a terminal the bar redraws in place; in a log file or a pipe every
	// redraw is kept, so redraw there only every 15 s.
	throttle := 200 * time.Millisecond
	if !isTerminal(stderr) {
		throttle = 15 * time.Second
	}
	opts.Progress = func(stage string, step, total int, loss float64) {
		if stage != barStage {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(stderr)
			}
			barStage = stage
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(stderr),
				progressbar.OptionSetDescription(stage+" stage"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionShowElapsedTimeOnFinish(),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(throttle),
			)
		}
		bar.Describe(fmt.Sprintf("%s stage, loss %.4f", stage, loss))
		_ = bar.Set(step)
	}
	start := time.Now()
	m, err := segmentation.Train(ctx, cases, opts)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	tmp := f.out + ".tmp"
	if err := m.Save(tmp); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := os.Rename(tmp, f.out); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	p := m.Config().Provenance
	fmt.Fprintf(stdout, "model    %s\n", f.out)
	fmt.Fprintf(stdout, "data     %v (%d tumors)\n", p.Data, p.Tumors)
	fmt.Fprintf(stdout, "steps    liver %d, tumor %d (seed %d, Hessian %v)\n", p.Steps[0], p.Steps[1], p.Seed, m.Config().Tumor.UseHessian)
	fmt.Fprintf(stdout, "loss     liver %.4f, tumor %.4f (moving average at the end)\n", p.FinalLoss[0], p.FinalLoss[1])
	fmt.Fprintf(stdout, "time     %.1f s\n", time.Since(start).Seconds())
	return nil
}

// isTerminal reports whether w is a character device (an interactive
// terminal) rather than a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
