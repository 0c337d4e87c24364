package segmentation

import (
	"context"
	"fmt"
	"math"

	"github.com/mhpnet/node/segmentation/nn"
	"github.com/mhpnet/node/volume"
)

// Flags set on a Result when a gate fails. The segmentation is still
// returned, but callers must show the flag (job result, SEG description)
// rather than store it silently.
const (
	// FlagNoLiver: stage 1 found no liver-like component.
	FlagNoLiver = "no-liver-found"
	// FlagLiverVolume: the liver volume lies outside the model's plausible range.
	FlagLiverVolume = "implausible-liver-volume"
	// FlagLiverPosition: the chosen liver component does not lie in the right
	// upper abdomen relative to the body outline.
	FlagLiverPosition = "liver-not-right-sided"
	// FlagTumorBurden: tumors cover more of the liver than the model allows.
	FlagTumorBurden = "implausible-tumor-burden"
)

// liverResult is stage 1's output.
type liverResult struct {
	mask []uint8 // full size, 1 = liver ∪ tumors
	box  box     // bounding box of mask on the source grid
	// search is the mask before the bright trim (nil when the trim is
	// off): the tumor stage's edge gate measures against it, since a
	// vessel the trim removed beside a tumor is not the liver's edge.
	search   []uint8
	volumeML float64
	flags    []string
	coarse   *grid
	prob     []float32
}

// windowed returns the grid values mapped through w (ref for relative
// windows).
func windowed(g *grid, w HUWindow, ref float32) []float32 {
	out := make([]float32, len(g.data))
	for i, v := range g.data {
		out[i] = w.apply(v, ref)
	}
	return out
}

func (lc LiverConfig) inputs(lf liverFeatures) [][]float32 {
	chans := lf.channels(lc.PositionChannels)
	out := make([][]float32, len(chans))
	for i, c := range chans {
		if i < 3 {
			out[i] = windowed(c, lc.Window, 0)
		} else {
			out[i] = c.data
		}
	}
	return out
}

// segmentLiver runs stage 1 on v.
func segmentLiver(ctx context.Context, cfg LiverConfig, net *nn.Net, v *volume.Volume) (*liverResult, error) {
	full := box{hi: v.Size}
	ct := downsampleHU(v, full, cfg.SpacingMM)
	lf := computeLiverFeatures(ct, v.Direction)
	chans := cfg.inputs(lf)
	r := net.Arch().ReceptiveRadius()
	body := lf.blur1.data
	prob, err := predictTiled(ctx, net, r, chans, ct.size, func(lo, hi [3]int) bool {
		for z := lo[2]; z < hi[2]; z++ {
			for y := lo[1]; y < hi[1]; y++ {
				for x := lo[0]; x < hi[0]; x++ {
					if body[ct.index(x, y, z)] > -500 {
						return false
					}
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("liver stage: %w", err)
	}
	res := &liverResult{coarse: ct, prob: prob}
	mask, flags := postprocessLiver(prob, cfg.Threshold, ct.size, lf.xrel.data)
	res.flags = append(res.flags, flags...)
	if countNonzero(mask) == 0 {
		res.flags = appendFlag(res.flags, FlagNoLiver)
		res.mask = make([]uint8, v.Len())
		return res, nil
	}
	// Probability consistent with the post-processed mask, so that the
	// smooth upsampled boundary cannot bring back what was removed.
	thr := cfg.Threshold
	adj := make([]float32, len(prob))
	for i, p := range prob {
		if mask[i] != 0 {
			adj[i] = float32(math.Max(float64(p), float64(thr)+0.05))
		} else {
			adj[i] = float32(math.Min(float64(p), float64(thr)-0.05))
		}
	}
	ag := &grid{size: ct.size, spacing: ct.spacing, off: ct.off, step: ct.step, data: adj}
	cb, _ := gridMaskBox(mask, ct.size)
	sb := ct.sourceBox(cb, 1, v.Size)
	res.mask = make([]uint8, v.Len())
	ag.upsampleThreshold(v.Geometry, sb, thr, res.mask, 1, nil)
	if cfg.RefineLowHU != 0 || cfg.RefineHighHU != 0 {
		// keeps the largest component itself
		refineLiver(v, res.mask, sb, ct, mask, cfg.RefineLowHU, cfg.RefineHighHU)
	} else {
		cleanBox(res.mask, v.Size, sb, 1, 0, true)
	}
	if cfg.TrimBrightHU > 0 {
		res.search = append([]uint8(nil), res.mask...)
		trimBright(v, res.mask, sb, cfg.TrimBrightHU)
		openOnGrid(v, res.mask, sb, ct)
	}
	if cfg.TrimFatHU != 0 {
		trimFat(v, res.mask, sb, cfg.TrimFatHU)
	}
	if cfg.TrimBrightHU > 0 || cfg.TrimFatHU != 0 {
		// the trims may cut pieces off: one component stays
		cleanBox(res.mask, v.Size, sb, 1, 0, true)
	}
	n := countNonzero(res.mask)
	res.volumeML = float64(n) * v.VoxelVolumeML()
	res.box, _ = maskBox(res.mask, v.Geometry, 1, 0)
	return res, nil
}

func appendFlag(flags []string, f string) []string {
	for _, g := range flags {
		if g == f {
			return flags
		}
	}
	return append(flags, f)
}

// postprocessLiver turns the coarse liver probability into one anatomically
// plausible component: threshold; opening (erosion, largest part, dilation,
// intersection) to cut thin bridges to adjacent organs; among the
// components, the largest whose centroid lies on the patient's right or
// midline (xrel < maxXRel); holes filled in 3D and per slice.
func postprocessLiver(prob []float32, thr float32, sz [3]int, xrel []float32) ([]uint8, []string) {
	var flags []string
	m := make([]uint8, len(prob))
	for i, p := range prob {
		if p >= thr {
			m[i] = 1
		}
	}
	if countNonzero(m) == 0 {
		return m, []string{FlagNoLiver}
	}
	er := erode6(m, sz)
	lab, sizes := components(er, sz)
	if len(sizes) == 1 {
		// too thin to survive an erosion: work on the raw mask
		lab, sizes = components(m, sz)
		er = m
	}
	best := pickLiverComponent(lab, sizes, xrel)
	if best < 0 {
		flags = append(flags, FlagLiverPosition)
		best = largest(sizes)
	}
	// conditional dilation (twice, inside the thresholded mask) restores
	// what the erosion took from the chosen component's surface while
	// entering a cut bridge by two voxels at most
	grown := keepLabel(lab, int32(best))
	for it := 0; it < 2; it++ {
		grown = dilate6(grown, sz)
		for i := range grown {
			grown[i] &= m[i]
		}
	}
	// the opening may detach a thin rim of the chosen component: keep the
	// component of the grown core only
	lab2, sizes2 := components(grown, sz)
	out := keepLabel(lab2, int32(largest(sizes2)))
	fillHoles3D(out, sz)
	fillHolesSlices(out, sz)
	return out, flags
}

// maxLiverXRel bounds the left-right centroid (in units of two body
// standard deviations, + = patient left) of an acceptable liver component.
const maxLiverXRel = 0.25

func pickLiverComponent(lab []int32, sizes []int, xrel []float32) int {
	sum := make([]float64, len(sizes))
	for i, l := range lab {
		if l > 0 {
			sum[l] += float64(xrel[i])
		}
	}
	best, bestN := -1, 0
	for id := 1; id < len(sizes); id++ {
		if sizes[id] == 0 {
			continue
		}
		c := sum[id] / float64(sizes[id])
		if c < maxLiverXRel && sizes[id] > bestN {
			best, bestN = id, sizes[id]
		}
	}
	return best
}

func largest(sizes []int) int {
	best, n := 0, -1
	for id := 1; id < len(sizes); id++ {
		if sizes[id] > n {
			best, n = id, sizes[id]
		}
	}
	return best
}

// gridMaskBox is the bounding box of the nonzero voxels of a grid mask.
func gridMaskBox(m []uint8, sz [3]int) (box, bool) {
	g := volume.Geometry{Size: sz, Spacing: [3]float64{1, 1, 1}}
	return maskBox(m, g, 0, 0)
}

// sourceBox maps a grid box, grown by pad grid voxels, to the source voxel
// box it covers, clipped to the source size.
func (g *grid) sourceBox(b box, pad int, src [3]int) box {
	var out box
	for a := 0; a < 3; a++ {
		lo := g.off[a] + float64(b.lo[a]-pad)*g.step[a]
		hi := g.off[a] + float64(b.hi[a]+pad)*g.step[a]
		out.lo[a] = max(int(math.Floor(lo)), 0)
		out.hi[a] = min(int(math.Ceil(hi)), src[a])
	}
	return out
}

// refineLiver removes, in the band around the coarse mask's boundary, the
// full-resolution liver voxels whose in-plane 3×3 median HU lies outside
// [median+lo, median+hi], then keeps the largest component and fills holes
// per slice inside box b.
func refineLiver(v *volume.Volume, mask []uint8, b box, coarse *grid, cmask []uint8, lo, hi float32) {
	ref := liverMedianHU(v, mask, b)
	sz := coarse.size
	band := make([]uint8, len(cmask))
	d := dilate6(cmask, sz)
	e := erode6(cmask, sz)
	for i := range band {
		if d[i] != 0 && e[i] == 0 {
			band[i] = 1
		}
	}
	nx, ny := v.Size[0], v.Size[1]
	near := func(a, i int) int { return nearest(coarse.toGrid(a, float64(i)), sz[a]) }
	mx := make([]int, b.hi[0]-b.lo[0])
	for x := range mx {
		mx[x] = near(0, x+b.lo[0])
	}
	var drop []int
	for z := b.lo[2]; z < b.hi[2]; z++ {
		cz := near(2, z)
		for y := b.lo[1]; y < b.hi[1]; y++ {
			cy := near(1, y)
			brow := band[sz[0]*(cy+sz[1]*cz):]
			mrow := mask[nx*(y+ny*z):]
			for x := b.lo[0]; x < b.hi[0]; x++ {
				if mrow[x] == 0 || brow[mx[x-b.lo[0]]] == 0 {
					continue
				}
				i := x + nx*(y+ny*z)
				// integer HU: a median in [ref+lo, ref+hi] is one in
				// (ref+lo-0.5, ref+hi]
				if !medianIn(v, x, y, z, ref+lo-0.5, ref+hi) {
					drop = append(drop, i)
				}
			}
		}
	}
	for _, i := range drop {
		mask[i] = 0
	}
	cleanBox(mask, v.Size, b, 1, 0, true)
	fillHolesBoxSlices(mask, v.Size, b)
}

// fillHolesBoxSlices fills per-slice holes of a full-size mask inside box b.
func fillHolesBoxSlices(mask []uint8, g [3]int, b box) {
	inBox(mask, g, b, fillHolesSlices)
}

// inBox runs fn on a copy of the box b of a full-size mask (grid size g)
// and writes the result back.
func inBox(mask []uint8, g [3]int, b box, fn func(sub []uint8, size [3]int)) {
	bs := b.size()
	if b.empty() {
		return
	}
	sub := make([]uint8, bs[0]*bs[1]*bs[2])
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := b.lo[0] + g[0]*(b.lo[1]+y+g[1]*(b.lo[2]+z))
			copy(sub[bs[0]*(y+bs[1]*z):bs[0]*(y+1+bs[1]*z)], mask[src:src+bs[0]])
		}
	}
	fn(sub, bs)
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := b.lo[0] + g[0]*(b.lo[1]+y+g[1]*(b.lo[2]+z))
			copy(mask[src:src+bs[0]], sub[bs[0]*(y+bs[1]*z):bs[0]*(y+1+bs[1]*z)])
		}
	}
}

// trimBright removes, anywhere in the liver mask inside box b, the voxels
// whose in-plane 3×3 median HU lies between above and above+trimBrightSpan
// HU over the case's parenchyma median: kidney cortex, the heart's blood
// pool, the portal vein and the IVC at the hilum are brighter than
// parenchyma in portal-venous CT, while calcifications (inside tumors) and
// bone are far brighter and are left to the boundary refinement. It then
// keeps the largest component and fills holes per slice, so that vessels
// enclosed by parenchyma return to the liver.
func trimBright(v *volume.Volume, mask []uint8, b box, above float32) {
	ref := liverMedianHU(v, mask, b)
	removeByMedian(v, mask, b, ref+above, ref+above+trimBrightSpan)
	cleanBox(mask, v.Size, b, 1, 0, true)
	fillHolesBoxSlices(mask, v.Size, b)
}

// removeByMedian removes, inside box b, the mask voxels whose in-plane 3×3
// median HU lies in (lo, hi] (medianIn).
func removeByMedian(v *volume.Volume, mask []uint8, b box, lo, hi float32) {
	nx, ny := v.Size[0], v.Size[1]
	var drop []int
	for z := b.lo[2]; z < b.hi[2]; z++ {
		for y := b.lo[1]; y < b.hi[1]; y++ {
			for x := b.lo[0]; x < b.hi[0]; x++ {
				i := x + nx*(y+ny*z)
				if mask[i] == 0 {
					continue
				}
				if medianIn(v, x, y, z, lo, hi) {
					drop = append(drop, i)
				}
			}
		}
	}
	for _, i := range drop {
		mask[i] = 0
	}
}

// openOnGrid cuts, on the coarse grid, what the bright trim left hanging by
// a thin neck (the kidney's medulla once its cortex is gone): the mask is
// box-averaged onto the coarse grid, opened as postprocessLiver does
// (erosion, largest component, two conditional dilations), and every
// full-resolution voxel whose coarse voxel the opening dropped is removed
// (the caller keeps the largest component afterwards).
func openOnGrid(v *volume.Volume, mask []uint8, b box, coarse *grid) {
	sz := coarse.size
	nx, ny := v.Size[0], v.Size[1]
	// coarse voxel of each source index along each axis (nearest centre)
	axis := func(a int) []int {
		m := make([]int, b.hi[a]-b.lo[a])
		for i := range m {
			m[i] = nearest(coarse.toGrid(a, float64(i+b.lo[a])), sz[a])
		}
		return m
	}
	mx, my, mz := axis(0), axis(1), axis(2)
	// fraction of each coarse voxel's source voxels inside the mask
	in := make([]int32, coarse.len())
	all := make([]int32, coarse.len())
	for z := b.lo[2]; z < b.hi[2]; z++ {
		for y := b.lo[1]; y < b.hi[1]; y++ {
			base := sz[0] * (my[y-b.lo[1]] + sz[1]*mz[z-b.lo[2]])
			row := mask[nx*(y+ny*z):]
			for x := b.lo[0]; x < b.hi[0]; x++ {
				c := base + mx[x-b.lo[0]]
				all[c]++
				if row[x] != 0 {
					in[c]++
				}
			}
		}
	}
	m := make([]uint8, coarse.len())
	for i := range m {
		if all[i] > 0 && 2*in[i] >= all[i] {
			m[i] = 1
		}
	}
	lab, sizes := components(erode6(m, sz), sz)
	if len(sizes) < 2 {
		return // too thin to open: leave it
	}
	grown := keepLabel(lab, int32(largest(sizes)))
	for it := 0; it < 2; it++ {
		grown = dilate6(grown, sz)
		for i := range grown {
			grown[i] &= m[i]
		}
	}
	// a coarse voxel the mask barely touches (fraction < 0.5) is kept if
	// it borders the opened core, so the boundary is not eroded
	keep := dilate6(grown, sz)
	for z := b.lo[2]; z < b.hi[2]; z++ {
		for y := b.lo[1]; y < b.hi[1]; y++ {
			krow := keep[sz[0]*(my[y-b.lo[1]]+sz[1]*mz[z-b.lo[2]]):]
			row := mask[nx*(y+ny*z):]
			for x := b.lo[0]; x < b.hi[0]; x++ {
				if row[x] != 0 && krow[mx[x-b.lo[0]]] == 0 {
					row[x] = 0
				}
			}
		}
	}
}

// trimFat removes, anywhere in the liver mask inside box b, the voxels whose
// in-plane 3×3 median HU is below below (absolute HU: fat is fat on every
// scanner): fat in the fissures and the gallbladder fossa that the network
// took in, which the tumor stage would otherwise read as dark blobs. Holes
// are not refilled (fat is never liver); the caller keeps the largest
// component afterwards.
func trimFat(v *volume.Volume, mask []uint8, b box, below float32) {
	// HU are integers: a median under below is one at most below-0.5
	removeByMedian(v, mask, b, float32(math.Inf(-1)), below-0.5)
}

// trimBrightSpan (HU) bounds the bright trim from above: a median more than
// this over the trim threshold is calcification or bone, not blood.
const trimBrightSpan = 210

// medianIn reports whether the in-plane 3×3 median HU around voxel
// (x, y, z) lies in (lo, hi] (the upper median where the window is cut by
// the slice border). It counts instead of sorting: the median is above lo
// when at least half the window is, and at most hi when at least half the
// window is. A median, unlike a mean, does not let the fat between the
// liver and a bright organ pull the organ's voxels into the parenchyma
// range.
func medianIn(v *volume.Volume, x, y, z int, lo, hi float32) bool {
	nx, ny := v.Size[0], v.Size[1]
	n, over, notAbove := 0, 0, 0
	for yy := max(y-1, 0); yy <= min(y+1, ny-1); yy++ {
		row := v.HU[nx*(yy+ny*z):]
		for xx := max(x-1, 0); xx <= min(x+1, nx-1); xx++ {
			h := float32(row[xx])
			n++
			if h > lo {
				over++
			}
			if h <= hi {
				notAbove++
			}
		}
	}
	return over >= n-n/2 && notAbove >= n/2+1
}
