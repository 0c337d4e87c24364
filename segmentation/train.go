package segmentation

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/mhpnet/node/segmentation/measure"
	"github.com/mhpnet/node/segmentation/nn"
	"github.com/mhpnet/node/volume"
)

// TrainCase is one training patient: the CT and its ground truth
// (LabelLiver parenchyma, LabelTumor tumors; other values are background).
type TrainCase struct {
	Name   string
	CT     *volume.Volume
	Labels *volume.LabelVolume
}

// TrainOptions configures Train. Zero fields take the defaults noted.
type TrainOptions struct {
	// Config is the starting configuration (architectures, constants,
	// thresholds); nil means DefaultConfig().
	Config *Config
	// Seed makes training deterministic (same data, seed and build give the
	// same weights).
	Seed int64
	// NoHessian trains the tumor stage on CT alone (ablation).
	NoHessian bool
	// AbsoluteHU windows the tumor stage's CT in absolute HU instead of
	// relative to the case's liver parenchyma median (ablation).
	AbsoluteHU bool
	// LiverSteps, TumorSteps: optimiser steps per stage (default 600, 800).
	LiverSteps, TumorSteps int
	// BatchSize: patches per step (default 6).
	BatchSize int
	// LiverPatch, TumorPatch: output edge of a training patch in voxels
	// (default 24, 12).
	LiverPatch, TumorPatch int
	// LiverAniso: per-axis scale jitter of the liver stage on top of the
	// isotropic ±15 % (default 0.08).
	LiverAniso float64
	// LiverElasticVox: amplitude (coarse voxels) of the liver stage's
	// elastic deformation (default 2; negative = none).
	LiverElasticVox float64
	// LearningRate for Adam (default 2e-3).
	LearningRate float64
	// LiverShares: centre shares for liver, liver border, other body tissue
	// (default 0.35, 0.35, 0.3).
	LiverShares []float64
	// TumorShares: centre shares for tumor, tumor border, liver, outside the
	// liver (default 0.3, 0.3, 0.3, 0.1).
	TumorShares []float64
	// LiverFrom, if set, supplies a trained liver stage (network and
	// settings) so that only the tumor stage is trained, e.g. for the
	// Hessian ablation.
	LiverFrom *Model
	// Progress, if set, is called after every step.
	Progress func(stage string, step, total int, loss float64)
	// CodeVersion is recorded in the model's provenance.
	CodeVersion string
}

// Bounds of the training options that size buffers: a patch edge (output
// voxels) and the patches per step.
const (
	MinPatch = 4
	MaxPatch = 48
	MaxBatch = 64
)

// maxTrainBytes bounds the im2col buffer of one step (batch × input patch
// voxels × 27 taps × widest layer × 4 bytes).
const maxTrainBytes = 4 << 30

// validate refuses options that cannot train or would allocate without
// bound (after defaults).
func (o *TrainOptions) validate(cfg Config) error {
	for _, p := range []struct {
		name string
		v    int
	}{{"liver patch", o.LiverPatch}, {"tumor patch", o.TumorPatch}} {
		if p.v < MinPatch || p.v > MaxPatch {
			return fmt.Errorf("%w: %s %d voxels (want %d..%d)", ErrTraining, p.name, p.v, MinPatch, MaxPatch)
		}
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatch {
		return fmt.Errorf("%w: batch %d (want 1..%d)", ErrTraining, o.BatchSize, MaxBatch)
	}
	for _, st := range []struct {
		name  string
		arch  ArchSpec
		patch int
	}{{"liver", cfg.Liver.Arch, o.LiverPatch}, {"tumor", cfg.Tumor.Arch, o.TumorPatch}} {
		in := st.patch + 2*st.arch.ReceptiveRadius()
		width := st.arch.InChannels
		for _, l := range st.arch.Layers {
			width = max(width, l.Out)
		}
		if b := int64(o.BatchSize) * int64(in*in*in) * 27 * int64(width) * 4; b > maxTrainBytes {
			return fmt.Errorf("%w: %s stage: batch %d of %d-voxel patches needs %.1f GB per step (at most %d GB)", ErrTraining, st.name, o.BatchSize, st.patch, float64(b)/(1<<30), maxTrainBytes>>30)
		}
	}
	return nil
}

func (o *TrainOptions) defaults() {
	if o.LiverSteps == 0 {
		// measured on the reverse direction (train 1.17, evaluate 1.1) with
		// 24-voxel patches: liver Dice 0.909 (600 steps), 0.894 (900),
		// 0.913 (1200), within the ±0.01-0.02 a change of seed makes; 600
		// keeps training near 5 minutes
		o.LiverSteps = 600
	}
	if o.TumorSteps == 0 {
		o.TumorSteps = 800
	}
	if o.BatchSize == 0 {
		o.BatchSize = 6
	}
	if o.LiverPatch == 0 {
		// 24 coarse voxels (72 mm) of output, 96 mm of input: more anatomy
		// per patch than 16 (48 mm), which helped the reverse direction
		o.LiverPatch = 24
	}
	if o.TumorPatch == 0 {
		o.TumorPatch = 12
	}
	if o.LiverAniso == 0 {
		o.LiverAniso = 0.08
	}
	if o.LiverElasticVox == 0 {
		o.LiverElasticVox = 2
	}
	if o.LearningRate == 0 {
		o.LearningRate = 2e-3
	}
	if len(o.LiverShares) == 0 {
		o.LiverShares = []float64{0.35, 0.35, 0.3}
	}
	if len(o.TumorShares) == 0 {
		o.TumorShares = []float64{0.3, 0.3, 0.3, 0.1}
	}
}

// Train fits both stages on cases and returns the model.
func Train(ctx context.Context, cases []TrainCase, opts TrainOptions) (*Model, error) {
	opts.defaults()
	if len(cases) == 0 {
		return nil, fmt.Errorf("%w: no training cases", ErrTraining)
	}
	cfg := DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.NoHessian {
		cfg.Tumor.UseHessian = false
		cfg.Tumor.Arch.InChannels = 1
		cfg.Tumor.MinHessian = 0
	}
	if opts.AbsoluteHU {
		// the same window centred on a typical portal-venous parenchyma
		cfg.Tumor.Window = HUWindow{Low: -50, High: 200, Center: 105, Scale: 50}
	}
	cfg.Liver.Arch.InChannels = liverInChannels(cfg.Liver.PositionChannels)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := opts.validate(cfg); err != nil {
		return nil, err
	}
	for i, c := range cases {
		if c.CT == nil || c.Labels == nil || c.CT.Size != c.Labels.Size || len(c.CT.HU) != c.CT.Len() || len(c.Labels.Labels) != c.Labels.Len() {
			return nil, fmt.Errorf("%w: case %d: CT and labels must share one valid grid", ErrTraining, i)
		}
	}
	start := time.Now()
	tumors := 0
	for i, c := range cases {
		n, err := countTumors(c.Labels)
		if err != nil {
			return nil, fmt.Errorf("%w: case %d: %w", ErrTraining, i, err)
		}
		tumors += n
		cfg.Provenance.Data = append(cfg.Provenance.Data, c.Name)
	}
	m := &Model{cfg: cfg}
	var err error
	var lossL, lossT float64
	if opts.LiverFrom != nil {
		m.cfg.Liver = opts.LiverFrom.Config().Liver
		m.liver = opts.LiverFrom.liver
		lossL = opts.LiverFrom.cfg.Provenance.FinalLoss[0]
		opts.LiverSteps = opts.LiverFrom.cfg.Provenance.Steps[0]
		m.cfg.Provenance.Notes = "liver stage taken from a model trained on " + fmt.Sprint(opts.LiverFrom.cfg.Provenance.Data)
	} else if m.liver, lossL, err = trainLiver(ctx, &m.cfg, cases, opts); err != nil {
		return nil, err
	}
	m.tumor, lossT, err = trainTumor(ctx, &m.cfg, cases, opts)
	if err != nil {
		return nil, err
	}
	m.cfg.Provenance.Tumors = tumors
	m.cfg.Provenance.Seed = opts.Seed
	m.cfg.Provenance.Date = time.Now().UTC().Format(time.RFC3339)
	m.cfg.Provenance.CodeVersion = opts.CodeVersion
	m.cfg.Provenance.Steps = [2]int{opts.LiverSteps, opts.TumorSteps}
	m.cfg.Provenance.FinalLoss = [2]float64{lossL, lossT}
	m.cfg.Provenance.Seconds = time.Since(start).Seconds()
	return m, nil
}

// countTumors counts the 6-connected LabelTumor components.
func countTumors(l *volume.LabelVolume) (int, error) {
	t, err := measure.Tumors(l, LabelTumor, volume.Conn6)
	return len(t), err
}

type liverTrainCase struct {
	chans  []*grid
	target *grid
	strata strata
}

func trainLiver(ctx context.Context, cfg *Config, cases []TrainCase, opts TrainOptions) (*nn.Net, float64, error) {
	lc := cfg.Liver
	var tcs []liverTrainCase
	for _, c := range cases {
		full := box{hi: c.CT.Size}
		ct := downsampleHU(c.CT, full, lc.SpacingMM)
		lf := computeLiverFeatures(ct, c.CT.Direction)
		tgt := downsampleLabels(c.Labels, full, ct, func(l uint8) bool { return l == LabelLiver || l == LabelTumor })
		m := make([]uint8, ct.len())
		for i, f := range tgt.data {
			if f >= 0.5 {
				m[i] = 1
			}
		}
		// border: within 2 voxels of the boundary, either side
		d := dilate6(dilate6(m, ct.size), ct.size)
		e := erode6(erode6(m, ct.size), ct.size)
		st := make(strata, 3)
		for i := range m {
			switch {
			case d[i] != 0 && e[i] == 0:
				st[1] = append(st[1], int32(i))
			case m[i] != 0:
				st[0] = append(st[0], int32(i))
			case lf.blur1.data[i] > -500:
				st[2] = append(st[2], int32(i))
			}
		}
		tcs = append(tcs, liverTrainCase{chans: lf.channels(lc.PositionChannels), target: tgt, strata: st})
	}
	hu := 3 // the first three channels are HU valued
	return trainStage(ctx, "liver", lc.Arch, opts, opts.LiverSteps, opts.LiverPatch, opts.Seed,
		func(rng *rand.Rand) (int, int, transform, func(c int, v float32) float32) {
			ci := rng.IntN(len(tcs))
			tc := tcs[ci]
			ctr := tc.strata.pick(rng, opts.LiverShares)
			t := randomTransform(rng, 0.15, opts.LiverAniso, 15, [3]bool{false, false, false}, false)
			if opts.LiverElasticVox > 0 {
				t = t.withWarp(rng, opts.LiverElasticVox, float64(opts.LiverPatch)/2+float64(lc.Arch.ReceptiveRadius()))
			}
			a := float32(1 + 0.1*(2*rng.Float64()-1))
			b := float32(25 * (2*rng.Float64() - 1))
			posShift := [2]float32{float32(0.08 * (2*rng.Float64() - 1)), float32(0.08 * (2*rng.Float64() - 1))}
			fn := func(c int, v float32) float32 {
				if c < hu {
					return lc.Window.apply(a*v+b, 0)
				}
				return v + posShift[c-hu]
			}
			return ci, ctr, t, fn
		},
		func(ci int) ([]*grid, *grid, *grid) { return tcs[ci].chans, tcs[ci].target, nil },
		func(ci int) [3]int { return tcs[ci].target.size })
}

type tumorTrainCase struct {
	chans  []*grid
	target *grid
	mask   *grid
	strata strata
	ref    float32 // liver parenchyma median HU
}

func trainTumor(ctx context.Context, cfg *Config, cases []TrainCase, opts TrainOptions) (*nn.Net, float64, error) {
	tc := &cfg.Tumor
	if tc.UseHessian {
		// Fix the Hessian normaliser from the training data: the median raw
		// response inside the training tumors maps to 1. It is stored in the
		// model and never recomputed per case.
		tc.Hessian.Normaliser = 1
		var inTumor []float32
		for _, c := range cases {
			liver, b := trueLiver(c.Labels)
			if b.empty() {
				continue
			}
			tg, err := prepareTumorGrid(ctx, *tc, c.CT, liver, b)
			if err != nil {
				return nil, 0, err
			}
			tgt := downsampleLabels(c.Labels, tg.box, tg.ct, func(l uint8) bool { return l == LabelTumor })
			for i, f := range tgt.data {
				if f >= 0.5 {
					inTumor = append(inTumor, tg.hess[i])
				}
			}
		}
		if len(inTumor) > 0 {
			sort.Slice(inTumor, func(i, j int) bool { return inTumor[i] < inTumor[j] })
			if med := inTumor[len(inTumor)/2]; med > 0 {
				tc.Hessian.Normaliser = med
			}
		}
	}
	var tcs []tumorTrainCase
	for _, c := range cases {
		liver, b := trueLiver(c.Labels)
		if b.empty() {
			continue
		}
		tg, err := prepareTumorGrid(ctx, *tc, c.CT, liver, b)
		if err != nil {
			return nil, 0, err
		}
		sz := tg.ct.size
		mk := func(d []float32) *grid {
			return &grid{size: sz, spacing: tg.ct.spacing, off: tg.ct.off, step: tg.ct.step, data: d}
		}
		// keep the CT channel in HU so that intensity augmentation happens
		// before windowing; the reference HU travels with the case.
		chans := []*grid{tg.ct}
		if tc.UseHessian {
			chans = append(chans, mk(tg.hess))
		}
		tgt := downsampleLabels(c.Labels, tg.box, tg.ct, func(l uint8) bool { return l == LabelTumor })
		tm := make([]uint8, len(tgt.data))
		for i, f := range tgt.data {
			if f >= 0.5 {
				tm[i] = 1
			}
		}
		inLiver := dilate6(tg.liver, sz)
		lm := make([]float32, len(inLiver))
		for i, v := range inLiver {
			lm[i] = float32(v)
		}
		d := dilate6(dilate6(tm, sz), sz)
		e := erode6(erode6(tm, sz), sz)
		st := make(strata, 4)
		for i := range tm {
			switch {
			case d[i] != 0 && e[i] == 0 && inLiver[i] != 0:
				st[1] = append(st[1], int32(i))
			case tm[i] != 0:
				st[0] = append(st[0], int32(i))
			case tg.liver[i] != 0:
				st[2] = append(st[2], int32(i))
			case inLiver[i] != 0:
				st[3] = append(st[3], int32(i))
			}
		}
		tcs = append(tcs, tumorTrainCase{chans: chans, target: tgt, mask: mk(lm), strata: st, ref: tg.refHU})
	}
	if len(tcs) == 0 {
		return nil, 0, fmt.Errorf("%w: no training case has a liver", ErrTraining)
	}
	return trainStage(ctx, "tumor", tc.Arch, opts, opts.TumorSteps, opts.TumorPatch, opts.Seed+1,
		func(rng *rand.Rand) (int, int, transform, func(c int, v float32) float32) {
			ci := rng.IntN(len(tcs))
			c := tcs[ci]
			ctr := c.strata.pick(rng, opts.TumorShares)
			t := randomTransform(rng, 0.1, 0.03, 10, [3]bool{true, true, true}, true)
			ref := c.ref
			a := float32(1 + 0.08*(2*rng.Float64()-1))
			b := float32(8 * (2*rng.Float64() - 1))
			fn := func(ch int, v float32) float32 {
				if ch == 0 {
					return tc.Window.apply(ref+a*(v-ref)+b, ref)
				}
				return v
			}
			return ci, ctr, t, fn
		},
		func(ci int) ([]*grid, *grid, *grid) {
			c := tcs[ci]
			return c.chans, c.target, c.mask
		},
		func(ci int) [3]int { return tcs[ci].target.size })
}

// trueLiver returns the ground-truth liver ∪ tumor mask and its box.
func trueLiver(l *volume.LabelVolume) ([]uint8, box) {
	m := make([]uint8, len(l.Labels))
	for i, v := range l.Labels {
		if v == LabelLiver || v == LabelTumor {
			m[i] = 1
		}
	}
	b, ok := maskBox(m, l.Geometry, 1, 0)
	if !ok {
		return m, box{}
	}
	return m, b
}

// trainStage runs the optimiser for one stage. draw picks a case, a centre
// voxel, a transform and a channel mapping; grids returns that case's input
// channels, target fraction and loss-mask grids.
func trainStage(ctx context.Context, stage string, arch ArchSpec, opts TrainOptions, steps, patch int, seed int64,
	draw func(*rand.Rand) (int, int, transform, func(int, float32) float32),
	grids func(int) ([]*grid, *grid, *grid), size func(int) [3]int) (*nn.Net, float64, error) {
	net, err := nn.NewNet(arch.toNN(), seed)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s stage: %w", ErrTraining, stage, err)
	}
	tr, err := nn.NewTrainer(net, nn.TrainOptions{
		LearningRate: opts.LearningRate,
		BatchSize:    opts.BatchSize,
		Seed:         seed,
		DiceWeight:   1,
		CEWeight:     1,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s stage: %w", ErrTraining, stage, err)
	}
	r := arch.ReceptiveRadius()
	pr := patchReader{r: r}
	for a := 0; a < 3; a++ {
		pr.outSize[a] = patch
		pr.inSize[a] = patch + 2*r
	}
	nin := pr.inSize[0] * pr.inSize[1] * pr.inSize[2]
	nout := pr.outSize[0] * pr.outSize[1] * pr.outSize[2]
	bs := opts.BatchSize
	inputs := make([]float32, bs*arch.InChannels*nin)
	targets := make([]uint8, bs*nout)
	masks := make([]uint8, bs*nout)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d68706e6574))
	var ema float64
	for step := 0; step < steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		for b := 0; b < bs; b++ {
			ci, ctr, t, fn := draw(rng)
			chans, tgt, msk := grids(ci)
			sz := size(ci)
			cx := float64(ctr%sz[0]) + rng.Float64() - 0.5
			cy := float64((ctr/sz[0])%sz[1]) + rng.Float64() - 0.5
			cz := float64(ctr/(sz[0]*sz[1])) + rng.Float64() - 0.5
			pr.readInputs(inputs[b*arch.InChannels*nin:(b+1)*arch.InChannels*nin], chans, cx, cy, cz, t, fn)
			pr.readTargets(targets[b*nout:(b+1)*nout], masks[b*nout:(b+1)*nout], tgt, msk, cx, cy, cz, t)
		}
		loss, err := tr.Step(ctx, inputs, pr.inSize, targets, masks)
		if err != nil {
			return nil, 0, fmt.Errorf("%s stage step %d: %w", stage, step, err)
		}
		lf := float64(loss)
		if step == 0 {
			ema = lf
		} else {
			ema = 0.95*ema + 0.05*lf
		}
		if math.IsNaN(lf) {
			return nil, 0, fmt.Errorf("%w: %s stage loss is NaN at step %d", ErrTraining, stage, step)
		}
		if opts.Progress != nil {
			opts.Progress(stage, step+1, steps, ema)
		}
	}
	return net, ema, nil
}
