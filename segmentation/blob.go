package segmentation

import (
	"context"
	"fmt"
	"math"

	"github.com/mhpnet/node/segmentation/hessian"
	"github.com/mhpnet/node/volume"
)

// gridGeometry places g in patient space given the source geometry.
func (g *grid) geometry(src volume.Geometry) volume.Geometry {
	var c [3]float64
	for a := 0; a < 3; a++ {
		c[a] = g.off[a] + 0.5*g.step[a] - 0.5
	}
	return volume.Geometry{Size: g.size, Spacing: g.spacing, Direction: src.Direction, Origin: src.VoxelToPatient(c)}
}

// blobResponse runs the multi-scale Hessian blob enhancer
// (segmentation/hessian) on the tumor grid g (HU, box averaged) and returns
// the response divided by the model's fixed normaliser and clipped.
func blobResponse(ctx context.Context, g *grid, src volume.Geometry, cfg HessianConfig) ([]float32, error) {
	v := &volume.Volume{Geometry: g.geometry(src), HU: make([]int16, g.len())}
	for i, f := range g.data {
		v.HU[i] = int16(math.Round(float64(min(max(f, -1024), 3071))))
	}
	pol := hessian.Both
	switch {
	case cfg.Dark && !cfg.Bright:
		pol = hessian.Dark
	case cfg.Bright && !cfg.Dark:
		pol = hessian.Bright
	case !cfg.Dark && !cfg.Bright:
		return nil, fmt.Errorf("%w: Hessian enabled with neither polarity", ErrModelInvalid)
	}
	res, err := hessian.Enhance(ctx, v, hessian.Options{SigmasMM: cfg.SigmasMM, Polarity: pol})
	if err != nil {
		return nil, err
	}
	out := res.Response.Data
	n := cfg.Normaliser
	if !(n > 0) {
		n = 1
	}
	for i, r := range out {
		r /= n
		if cfg.Clip > 0 && r > cfg.Clip {
			r = cfg.Clip
		}
		out[i] = r
	}
	return out, nil
}
