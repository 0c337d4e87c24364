package segmentation

import (
	"math"
	"math/rand/v2"
)

// Patch sampling for training: centres drawn from region strata, inputs
// read through a random similarity transform (scale, in-plane rotation,
// flips) by trilinear interpolation from the stage grids, targets read
// through the same transform.

// strata lists candidate centre voxels per region of one training grid.
type strata [][]int32

// pick draws a centre: a stratum by share, then a voxel in it. Empty
// strata give their share to the others.
func (s strata) pick(rng *rand.Rand, shares []float64) int {
	total := 0.0
	for i, st := range s {
		if len(st) > 0 && i < len(shares) {
			total += shares[i]
		}
	}
	u := rng.Float64() * total
	for i, st := range s {
		if len(st) == 0 || i >= len(shares) {
			continue
		}
		if u < shares[i] || i == len(s)-1 {
			return int(st[rng.IntN(len(st))])
		}
		u -= shares[i]
	}
	for _, st := range s {
		if len(st) > 0 {
			return int(st[rng.IntN(len(st))])
		}
	}
	return 0
}

// transform maps patch offsets (voxels from the patch centre) to grid
// offsets.
type transform struct {
	m [3][3]float64
}

func identity() transform {
	return transform{m: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
}

// randomTransform draws a similarity: isotropic scale in [1-scale, 1+scale]
// (each axis jittered by a further ±3 %), in-plane rotation up to rotDeg,
// optional flips per axis, optional in-plane 90° rotations.
func randomTransform(rng *rand.Rand, scale, rotDeg float64, flips [3]bool, rot90 bool) transform {
	s := 1 + scale*(2*rng.Float64()-1)
	var sc [3]float64
	for a := range sc {
		sc[a] = s * (1 + 0.03*(2*rng.Float64()-1))
		if flips[a] && rng.IntN(2) == 1 {
			sc[a] = -sc[a]
		}
	}
	th := rotDeg * math.Pi / 180 * (2*rng.Float64() - 1)
	if rot90 {
		th += float64(rng.IntN(4)) * math.Pi / 2
	}
	c, sn := math.Cos(th), math.Sin(th)
	return transform{m: [3][3]float64{
		{c * sc[0], -sn * sc[1], 0},
		{sn * sc[0], c * sc[1], 0},
		{0, 0, sc[2]},
	}}
}

// patchReader extracts one patch (all channels) and its targets.
type patchReader struct {
	inSize, outSize [3]int
	r               int
}

// readInputs writes C channels of the patch centred on grid voxel centre
// (cx, cy, cz) into dst ([C][Z][Y][X]); chanFn maps a sampled value of
// channel c.
func (p patchReader) readInputs(dst []float32, chans []*grid, cx, cy, cz float64, t transform, chanFn func(c int, v float32) float32) {
	nv := p.inSize[0] * p.inSize[1] * p.inSize[2]
	h := [3]float64{float64(p.inSize[0]-1) / 2, float64(p.inSize[1]-1) / 2, float64(p.inSize[2]-1) / 2}
	k := 0
	for z := 0; z < p.inSize[2]; z++ {
		dz := float64(z) - h[2]
		for y := 0; y < p.inSize[1]; y++ {
			dy := float64(y) - h[1]
			for x := 0; x < p.inSize[0]; x++ {
				dx := float64(x) - h[0]
				gx := cx + t.m[0][0]*dx + t.m[0][1]*dy + t.m[0][2]*dz
				gy := cy + t.m[1][0]*dx + t.m[1][1]*dy + t.m[1][2]*dz
				gz := cz + t.m[2][0]*dx + t.m[2][1]*dy + t.m[2][2]*dz
				for c, g := range chans {
					dst[c*nv+k] = chanFn(c, g.sample(gx, gy, gz))
				}
				k++
			}
		}
	}
}

// readTargets writes the output-voxel targets (fraction >= 0.5) and the
// loss mask (maskGrid >= 0.5, or all when maskGrid is nil).
func (p patchReader) readTargets(tgt, msk []uint8, target, maskGrid *grid, cx, cy, cz float64, t transform) {
	h := [3]float64{float64(p.outSize[0]-1) / 2, float64(p.outSize[1]-1) / 2, float64(p.outSize[2]-1) / 2}
	k := 0
	for z := 0; z < p.outSize[2]; z++ {
		dz := float64(z) - h[2]
		for y := 0; y < p.outSize[1]; y++ {
			dy := float64(y) - h[1]
			for x := 0; x < p.outSize[0]; x++ {
				dx := float64(x) - h[0]
				gx := cx + t.m[0][0]*dx + t.m[0][1]*dy + t.m[0][2]*dz
				gy := cy + t.m[1][0]*dx + t.m[1][1]*dy + t.m[1][2]*dz
				gz := cz + t.m[2][0]*dx + t.m[2][1]*dy + t.m[2][2]*dz
				tgt[k] = 0
				if target.sample(gx, gy, gz) >= 0.5 {
					tgt[k] = 1
				}
				msk[k] = 1
				if maskGrid != nil && maskGrid.sample(gx, gy, gz) < 0.5 {
					msk[k] = 0
				}
				k++
			}
		}
	}
}
