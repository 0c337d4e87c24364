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
	// warp is an optional smooth displacement (grid voxels) on a 3×3×3
	// control lattice spanning the patch, interpolated trilinearly: an
	// elastic deformation.
	warp *[3][3][3][3]float64
	half float64 // patch half extent (input voxels) the lattice spans
}

// withWarp adds a random elastic displacement of up to amp grid voxels
// per axis (z displaced at half the amplitude).
func (t transform) withWarp(rng *rand.Rand, amp, half float64) transform {
	var w [3][3][3][3]float64
	for i := range w {
		for j := range w[i] {
			for k := range w[i][j] {
				for a := 0; a < 3; a++ {
					f := amp
					if a == 2 {
						f = amp / 2
					}
					w[i][j][k][a] = f * (2*rng.Float64() - 1)
				}
			}
		}
	}
	t.warp = &w
	t.half = half
	return t
}

// apply maps a patch offset to a grid offset.
func (t transform) apply(dx, dy, dz float64) (float64, float64, float64) {
	gx := t.m[0][0]*dx + t.m[0][1]*dy + t.m[0][2]*dz
	gy := t.m[1][0]*dx + t.m[1][1]*dy + t.m[1][2]*dz
	gz := t.m[2][0]*dx + t.m[2][1]*dy + t.m[2][2]*dz
	if t.warp == nil || t.half <= 0 {
		return gx, gy, gz
	}
	// lattice coordinates in [0, 2]
	u := [3]float64{(dx/t.half + 1), (dy/t.half + 1), (dz/t.half + 1)}
	var i0 [3]int
	var f [3]float64
	for a := 0; a < 3; a++ {
		u[a] = min(max(u[a], 0), 2)
		i0[a] = min(int(u[a]), 1)
		f[a] = u[a] - float64(i0[a])
	}
	var d [3]float64
	for c := 0; c < 8; c++ {
		wx, wy, wz := 1-f[0], 1-f[1], 1-f[2]
		ix, iy, iz := i0[0], i0[1], i0[2]
		if c&1 != 0 {
			wx, ix = f[0], ix+1
		}
		if c&2 != 0 {
			wy, iy = f[1], iy+1
		}
		if c&4 != 0 {
			wz, iz = f[2], iz+1
		}
		w := wx * wy * wz
		for a := 0; a < 3; a++ {
			d[a] += w * t.warp[ix][iy][iz][a]
		}
	}
	return gx + d[0], gy + d[1], gz + d[2]
}

func identity() transform {
	return transform{m: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
}

// randomTransform draws a similarity: isotropic scale in [1-scale, 1+scale]
// (each axis jittered by a further ±aniso), in-plane rotation up to rotDeg,
// optional flips per axis, optional in-plane 90° rotations.
func randomTransform(rng *rand.Rand, scale, aniso, rotDeg float64, flips [3]bool, rot90 bool) transform {
	s := 1 + scale*(2*rng.Float64()-1)
	var sc [3]float64
	for a := range sc {
		sc[a] = s * (1 + aniso*(2*rng.Float64()-1))
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
				ox, oy, oz := t.apply(dx, dy, dz)
				gx, gy, gz := cx+ox, cy+oy, cz+oz
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
				ox, oy, oz := t.apply(dx, dy, dz)
				gx, gy, gz := cx+ox, cy+oy, cz+oz
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
