package segmentation

import (
	"context"
	"fmt"
	"sort"

	"github.com/mhpnet/node/segmentation/measure"
	"github.com/mhpnet/node/segmentation/metrics"
	"github.com/mhpnet/node/volume"
)

// Evaluation compares a model's segmentation of one CT with ground truth,
// separating the stages: the liver stage alone, the tumor stage inside the
// true liver (stage-isolated, comparable to the paper's figures) and the
// whole chain (tumors inside the predicted liver).
type Evaluation struct {
	// Liver compares predicted liver ∪ tumors with true liver ∪ tumors.
	Liver        metrics.Overlap
	LiverSurface metrics.Surface
	// TumorTrueLiver: tumor stage run inside the ground-truth liver.
	TumorTrueLiver     metrics.Overlap
	DetectionTrueLiver *metrics.Detection
	// TumorEndToEnd: tumors inside the predicted liver.
	TumorEndToEnd     metrics.Overlap
	DetectionEndToEnd *metrics.Detection
	// EndToEnd and TrueLiver are the two segmentations.
	EndToEnd, TrueLiver *Result
}

// tumorMask returns a mask of LabelTumor voxels (value 1).
func tumorMask(l *volume.LabelVolume) *volume.LabelVolume {
	out := &volume.LabelVolume{Geometry: l.Geometry, Labels: make([]uint8, len(l.Labels))}
	for i, v := range l.Labels {
		if v == LabelTumor {
			out.Labels[i] = 1
		}
	}
	return out
}

// Evaluate segments ct with m twice (end to end, and with the true liver)
// and compares both with truth (LabelLiver, LabelTumor).
func Evaluate(ctx context.Context, m *Model, ct *volume.Volume, truth *volume.LabelVolume) (*Evaluation, error) {
	if truth == nil || truth.Size != ct.Size || len(truth.Labels) != ct.Len() {
		return nil, fmt.Errorf("%w: truth labels must share the CT grid", ErrInput)
	}
	ev := &Evaluation{}
	var err error
	if ev.EndToEnd, err = m.Segment(ctx, ct, Options{}); err != nil {
		return nil, err
	}
	if ev.TrueLiver, err = m.Segment(ctx, ct, Options{Liver: truth}); err != nil {
		return nil, err
	}
	if ev.Liver, err = metrics.Compare(truth, ev.EndToEnd.Labels); err != nil {
		return nil, err
	}
	if ev.LiverSurface, err = metrics.SurfaceDistance(truth, ev.EndToEnd.Labels); err != nil {
		return nil, err
	}
	tt := tumorMask(truth)
	for _, p := range []struct {
		res *Result
		ov  *metrics.Overlap
		det **metrics.Detection
	}{{ev.TrueLiver, &ev.TumorTrueLiver, &ev.DetectionTrueLiver}, {ev.EndToEnd, &ev.TumorEndToEnd, &ev.DetectionEndToEnd}} {
		pt := tumorMask(p.res.Labels)
		if *p.ov, err = metrics.Compare(tt, pt); err != nil {
			return nil, err
		}
		if *p.det, err = metrics.MatchTumors(tt, pt, volume.Conn6); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// ReportSlices chooses the axial slices worth an overlay: the slice
// through each true tumor's centroid (largest tumors first), then the
// slices with the most liver errors and the most tumor errors (false positive + false negative
// voxels), without repeats, at most n in all.
func ReportSlices(truth, pred *volume.LabelVolume, n int) []int {
	nz := truth.Size[2]
	plane := truth.Size[0] * truth.Size[1]
	liverErr := make([]int, nz)
	tumorErr := make([]int, nz)
	for z := 0; z < nz; z++ {
		for i := z * plane; i < (z+1)*plane; i++ {
			t, p := truth.Labels[i], pred.Labels[i]
			if (t != 0) != (p != 0) {
				liverErr[z]++
			}
			if (t == LabelTumor) != (p == LabelTumor) {
				tumorErr[z]++
			}
		}
	}
	var out []int
	seen := map[int]bool{}
	add := func(z int) {
		if len(out) < n && !seen[z] {
			seen[z] = true
			out = append(out, z)
		}
	}
	// the slice through each true tumor's centroid, largest tumors first
	if ts, err := measure.Tumors(truth, LabelTumor, volume.Conn6); err == nil {
		sort.SliceStable(ts, func(a, b int) bool { return ts[a].Voxels > ts[b].Voxels })
		for _, t := range ts {
			add(min(max(int(t.CentroidVoxel[2]+0.5), 0), nz-1))
		}
	}
	worst := func(e []int, k int) {
		idx := make([]int, nz)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return e[idx[a]] > e[idx[b]] })
		for _, z := range idx[:min(k, nz)] {
			if e[z] > 0 {
				add(z)
			}
		}
	}
	worst(liverErr, 3)
	worst(tumorErr, 3)
	sort.Ints(out)
	return out
}
