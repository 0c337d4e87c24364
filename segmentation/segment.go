package segmentation

import (
	"context"
	"fmt"
	"time"

	"github.com/mhpnet/node/segmentation/measure"
	"github.com/mhpnet/node/volume"
)

// Label values of a Result's label volume.
const (
	LabelLiver uint8 = 1 // liver parenchyma
	LabelTumor uint8 = 2 // tumor (always inside the liver)
)

// Options tune one Segment call. The zero value runs both stages.
type Options struct {
	// SkipTumors stops after the liver stage.
	SkipTumors bool
	// Liver, if set, replaces stage 1: tumors are searched inside this mask
	// (nonzero = liver ∪ tumors). Evaluation uses it to isolate the tumor
	// stage on the ground-truth liver. It must share the CT's geometry.
	Liver *volume.LabelVolume
}

// Timings records the wall time of each stage.
type Timings struct {
	Liver   time.Duration
	Tumor   time.Duration
	Measure time.Duration
	Total   time.Duration
}

// Result is a segmentation with its measurements and gate flags.
type Result struct {
	// Labels: 0 background, LabelLiver, LabelTumor on the CT's grid.
	Labels *volume.LabelVolume
	// Liver measures the liver including its tumors.
	Liver measure.Liver
	// Tumors lists every tumor (6-connected component of LabelTumor).
	Tumors []measure.Tumor
	// Flags names failed plausibility gates (Flag* constants); a flagged
	// result must be shown as such, not stored silently.
	Flags []string
	// LiverMedianHU is the parenchyma median HU the tumor stage used.
	LiverMedianHU float32
	// Removed explains tumor candidates dropped by the false-positive checks.
	Removed []string
	Timings Timings
}

// Segment finds the liver and the liver tumors in ct.
func (m *Model) Segment(ctx context.Context, ct *volume.Volume, opts Options) (*Result, error) {
	if ct == nil {
		return nil, fmt.Errorf("%w: nil volume", ErrInput)
	}
	if err := ct.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if len(ct.HU) != ct.Len() {
		return nil, fmt.Errorf("%w: %d HU values for %v voxels", ErrInput, len(ct.HU), ct.Size)
	}
	if opts.Liver != nil && (opts.Liver.Size != ct.Size || len(opts.Liver.Labels) != ct.Len()) {
		return nil, fmt.Errorf("%w: liver mask size %v differs from CT %v", ErrInput, opts.Liver.Size, ct.Size)
	}
	t0 := time.Now()
	res := &Result{}
	var liver, search []uint8
	var lbox box
	if opts.Liver != nil {
		liver = make([]uint8, ct.Len())
		for i, l := range opts.Liver.Labels {
			if l != 0 {
				liver[i] = 1
			}
		}
		b, ok := maskBox(liver, ct.Geometry, 1, 0)
		lbox = b
		if !ok {
			res.Flags = appendFlag(res.Flags, FlagNoLiver)
		}
	} else {
		lr, err := segmentLiver(ctx, m.cfg.Liver, m.liver, ct)
		if err != nil {
			return nil, err
		}
		liver, lbox = lr.mask, lr.box
		search = lr.search
		for _, f := range lr.flags {
			res.Flags = appendFlag(res.Flags, f)
		}
	}
	res.Timings.Liver = time.Since(t0)
	labels := &volume.LabelVolume{Geometry: ct.Geometry, Labels: liver}
	t1 := time.Now()
	if !opts.SkipTumors && !lbox.empty() && countNonzero(liver) > 0 {
		// the tumor stage searches the trimmed liver (vessels the bright
		// trim removed read as parenchyma), but its edge gate measures
		// against the liver before the trim: a vessel beside a tumor is
		// not the liver's edge
		tr, err := segmentTumors(ctx, m.cfg.Tumor, m.tumor, ct, liver, lbox, search)
		if err != nil {
			return nil, err
		}
		res.LiverMedianHU = tr.refHU
		res.Removed = tr.removed
		for i, t := range tr.mask {
			if t != 0 {
				liver[i] = LabelTumor
			}
		}
	}
	res.Timings.Tumor = time.Since(t1)
	res.Labels = labels
	t2 := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep, err := measure.Measure(labels, measure.Labels{Liver: LabelLiver, Tumor: LabelTumor})
	if err != nil {
		return nil, fmt.Errorf("segmentation: measure: %w", err)
	}
	res.Liver, res.Tumors = rep.Liver, rep.Tumors
	for _, f := range gateFlags(m.cfg, res.Liver.VolumeML, res.Liver.TumorML, opts.Liver == nil) {
		res.Flags = appendFlag(res.Flags, f)
	}
	res.Timings.Measure = time.Since(t2)
	res.Timings.Total = time.Since(t0)
	return res, nil
}

// gateFlags applies the plausibility gates to measured volumes: the liver
// volume range (only when the liver came from the model) and the tumor
// burden as a share of the liver.
func gateFlags(cfg Config, liverML, tumorML float64, liverFromModel bool) []string {
	var flags []string
	if liverFromModel && liverML > 0 && (liverML < cfg.Liver.MinVolumeML || liverML > cfg.Liver.MaxVolumeML) {
		flags = append(flags, FlagLiverVolume)
	}
	if liverML > 0 && tumorML/liverML > cfg.Tumor.MaxBurden {
		flags = append(flags, FlagTumorBurden)
	}
	return flags
}
