package segmentation

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/mhpnet/node/segmentation/nn"
	"github.com/mhpnet/node/volume"
)

// tumorGrid holds the tumor stage's working grids over the liver box.
type tumorGrid struct {
	box   box   // on the source grid
	ct    *grid // HU, box averaged
	liver []uint8
	// edge, if set, is the mask the edge gate measures a component's shell
	// against instead of liver (the liver before the bright trim)
	edge   []uint8
	hess   []float32 // normalised Hessian response (nil without Hessian)
	refHU  float32   // liver parenchyma median HU
	inputs [][]float32
}

// liverMedianHU is the median HU of the source voxels inside mask (label
// nonzero), from a histogram: the reference for relative windows.
func liverMedianHU(v *volume.Volume, mask []uint8, b box) float32 {
	const lo, n = -1024, 4096
	hist := make([]int, n)
	total := 0
	nx, ny := v.Size[0], v.Size[1]
	for z := b.lo[2]; z < b.hi[2]; z++ {
		for y := b.lo[1]; y < b.hi[1]; y++ {
			base := nx * (y + ny*z)
			for x := b.lo[0]; x < b.hi[0]; x++ {
				if mask[base+x] != 0 {
					h := int(v.HU[base+x]) - lo
					h = min(max(h, 0), n-1)
					hist[h]++
					total++
				}
			}
		}
	}
	if total == 0 {
		return 100
	}
	half := (total + 1) / 2
	acc := 0
	for i, c := range hist {
		acc += c
		if acc >= half {
			return float32(i + lo)
		}
	}
	return 100
}

// prepareTumorGrid builds the tumor stage inputs over the liver box (plus
// margin) of v, liver being a full-size mask (nonzero = liver ∪ tumors).
func prepareTumorGrid(ctx context.Context, cfg TumorConfig, v *volume.Volume, liver []uint8, liverBox box) (*tumorGrid, error) {
	tg := &tumorGrid{}
	for a := 0; a < 3; a++ {
		m := int(math.Ceil(cfg.MarginMM / v.Spacing[a]))
		tg.box.lo[a] = max(liverBox.lo[a]-m, 0)
		tg.box.hi[a] = min(liverBox.hi[a]+m, v.Size[a])
	}
	tg.refHU = liverMedianHU(v, liver, liverBox)
	tg.ct = downsampleHU(v, tg.box, cfg.SpacingMM)
	lv := &volume.LabelVolume{Geometry: v.Geometry, Labels: liver}
	frac := downsampleLabels(lv, tg.box, tg.ct, func(l uint8) bool { return l != 0 })
	tg.liver = make([]uint8, len(frac.data))
	for i, f := range frac.data {
		if f >= 0.5 {
			tg.liver[i] = 1
		}
	}
	if cfg.MaskOutside {
		// voxels outside the liver read as parenchyma (at full resolution,
		// before averaging), so the liver edge is neither dark nor a step
		tg.ct = downsampleHUMasked(v, tg.box, cfg.SpacingMM, liver, tg.refHU)
	}
	tg.inputs = [][]float32{windowed(tg.ct, cfg.Window, tg.refHU)}
	if cfg.UseHessian {
		h, err := blobResponse(ctx, tg.ct, v.Geometry, cfg.Hessian)
		if err != nil {
			return nil, fmt.Errorf("tumor stage: Hessian: %w", err)
		}
		tg.hess = h
		tg.inputs = append(tg.inputs, h)
	}
	return tg, nil
}

// tumorResult is stage 2's output on the source grid.
type tumorResult struct {
	mask       []uint8 // full size, 1 = tumor (inside the liver mask)
	components int
	removed    []string // why components were dropped, for reports
	refHU      float32
}

// segmentTumors runs stage 2 on v inside the full-size liver mask; the
// edge gate measures against edgeMask when it is not nil.
func segmentTumors(ctx context.Context, cfg TumorConfig, net *nn.Net, v *volume.Volume, liver []uint8, liverBox box, edgeMask []uint8) (*tumorResult, error) {
	tg, err := prepareTumorGrid(ctx, cfg, v, liver, liverBox)
	if err != nil {
		return nil, err
	}
	if edgeMask != nil {
		lv := &volume.LabelVolume{Geometry: v.Geometry, Labels: edgeMask}
		frac := downsampleLabels(lv, tg.box, tg.ct, func(l uint8) bool { return l != 0 })
		tg.edge = make([]uint8, len(frac.data))
		for i, f := range frac.data {
			if f >= 0.5 || tg.liver[i] != 0 {
				tg.edge[i] = 1
			}
		}
	}
	sz := tg.ct.size
	r := net.Arch().ReceptiveRadius()
	prob, err := predictTiled(ctx, net, r, tg.inputs, sz, func(lo, hi [3]int) bool {
		for z := lo[2]; z < hi[2]; z++ {
			for y := lo[1]; y < hi[1]; y++ {
				for x := lo[0]; x < hi[0]; x++ {
					if tg.liver[tg.ct.index(x, y, z)] != 0 {
						return false
					}
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("tumor stage: %w", err)
	}
	return finishTumors(cfg, tg, prob, v, liver), nil
}

// finishTumors thresholds the tumor probability on the tumor grid, removes
// components that fail the volume, contrast and Hessian checks, and
// upsamples what stays to the source grid inside the liver.
func finishTumors(cfg TumorConfig, tg *tumorGrid, prob []float32, v *volume.Volume, liver []uint8) *tumorResult {
	sz := tg.ct.size
	res := &tumorResult{refHU: tg.refHU, mask: make([]uint8, v.Len())}
	inLiver := dilate6(tg.liver, sz)
	m := make([]uint8, len(prob))
	for i, p := range prob {
		if p >= cfg.Threshold && inLiver[i] != 0 {
			m[i] = 1
		}
	}
	lab, sizes := components(m, sz)
	voxML := tg.ct.spacing[0] * tg.ct.spacing[1] * tg.ct.spacing[2] / 1000
	keep := make([]bool, len(sizes))
	stats := componentStats(lab, len(sizes), tg, sz)
	for id := 1; id < len(sizes); id++ {
		ml := float64(sizes[id]) * voxML
		s := stats[id]
		switch {
		case ml < cfg.MinComponentML:
			res.removed = append(res.removed, fmt.Sprintf("%.2f mL < min %.2f mL", ml, cfg.MinComponentML))
		case cfg.MinContrastHU > 0 && math.Abs(s.contrast) < cfg.MinContrastHU:
			res.removed = append(res.removed, fmt.Sprintf("%.2f mL: contrast %.1f HU < %.1f", ml, s.contrast, cfg.MinContrastHU))
		case cfg.MinHessian > 0 && tg.hess != nil && s.hessian < cfg.MinHessian:
			res.removed = append(res.removed, fmt.Sprintf("%.2f mL: Hessian %.2f < %.2f", ml, s.hessian, cfg.MinHessian))
		case cfg.MaxEdgeFraction > 0 && s.edge > cfg.MaxEdgeFraction && ml < cfg.EdgeKeepML:
			res.removed = append(res.removed, fmt.Sprintf("%.2f mL: %.0f %% of its shell outside the liver > %.0f %%", ml, 100*s.edge, 100*cfg.MaxEdgeFraction))
		default:
			keep[id] = true
			res.components++
		}
	}
	adj := make([]float32, len(prob))
	any := false
	for i, l := range lab {
		if l > 0 && keep[l] {
			adj[i] = float32(math.Max(float64(prob[i]), float64(cfg.Threshold)+0.05))
			any = true
		} else {
			adj[i] = float32(math.Min(float64(prob[i]), float64(cfg.Threshold)-0.05))
		}
	}
	if !any {
		return res
	}
	ag := &grid{size: sz, spacing: tg.ct.spacing, off: tg.ct.off, step: tg.ct.step, data: adj}
	ag.upsampleThreshold(v.Geometry, tg.box, cfg.Threshold, res.mask, 1, nil)
	for i := range res.mask {
		if liver[i] == 0 {
			res.mask[i] = 0
		}
	}
	cleanBox(res.mask, v.Size, tg.box, 1, max(1, int(cfg.MinComponentML/v.VoxelVolumeML())), false)
	return res
}

type compStat struct {
	meanHU, ringHU, contrast, hessian float64
	// edge is the share of the component's shell outside the liver mask.
	edge float64
}

// componentStats measures, per component, its mean HU, the mean HU of the
// liver parenchyma in a 2-voxel shell around it (excluding every candidate
// component), their difference (positive = darker than parenchyma) and the
// mean normalised Hessian response, and the share of the shell that lies
// outside the liver mask.
func componentStats(lab []int32, n int, tg *tumorGrid, sz [3]int) []compStat {
	st := make([]compStat, n)
	cnt := make([]float64, n)
	for i, l := range lab {
		if l > 0 {
			st[l].meanHU += float64(tg.ct.data[i])
			if tg.hess != nil {
				st[l].hessian += float64(tg.hess[i])
			}
			cnt[l]++
		}
	}
	// shell: grow labels twice with a 6-neighbourhood
	grow := append([]int32(nil), lab...)
	nx, ny, nz := sz[0], sz[1], sz[2]
	for it := 0; it < 2; it++ {
		next := append([]int32(nil), grow...)
		for z := 0; z < nz; z++ {
			for y := 0; y < ny; y++ {
				for x := 0; x < nx; x++ {
					i := x + nx*(y+ny*z)
					if grow[i] != 0 {
						continue
					}
					var l int32
					switch {
					case x > 0 && grow[i-1] != 0:
						l = grow[i-1]
					case x < nx-1 && grow[i+1] != 0:
						l = grow[i+1]
					case y > 0 && grow[i-nx] != 0:
						l = grow[i-nx]
					case y < ny-1 && grow[i+nx] != 0:
						l = grow[i+nx]
					case z > 0 && grow[i-nx*ny] != 0:
						l = grow[i-nx*ny]
					case z < nz-1 && grow[i+nx*ny] != 0:
						l = grow[i+nx*ny]
					}
					next[i] = l
				}
			}
		}
		grow = next
	}
	ring := make([][]float32, n)
	shell := make([]float64, n)
	outside := make([]float64, n)
	edge := tg.liver
	if tg.edge != nil {
		edge = tg.edge
	}
	for i, l := range grow {
		if l > 0 && lab[i] == 0 {
			shell[l]++
			if tg.liver[i] != 0 {
				ring[l] = append(ring[l], tg.ct.data[i])
			}
			if edge[i] == 0 {
				outside[l]++
			}
		}
	}
	for id := 1; id < n; id++ {
		if cnt[id] > 0 {
			st[id].meanHU /= cnt[id]
			st[id].hessian /= cnt[id]
		}
		if len(ring[id]) > 0 {
			sort.Slice(ring[id], func(a, b int) bool { return ring[id][a] < ring[id][b] })
			st[id].ringHU = float64(ring[id][len(ring[id])/2])
		} else {
			st[id].ringHU = float64(tg.refHU)
		}
		st[id].contrast = st[id].ringHU - st[id].meanHU
		if shell[id] > 0 {
			st[id].edge = outside[id] / shell[id]
		}
	}
	return st
}
