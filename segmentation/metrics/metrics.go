// Package metrics compares a predicted segmentation with a ground truth on
// the same grid: overlap (Dice, volume error), surface distances in mm, and
// lesion-level matching (per-tumor Dice, hits, false-positive components,
// detection recall and precision). It serves `node eval` and the tests of
// the segmentation stages; masks are volume.LabelVolumes where any
// non-zero voxel is foreground (use LabelVolume.Select to pick one label).
package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/mhpnet/node/volume"
)

// ErrInput is returned for a missing or inconsistent mask.
var ErrInput = errors.New("metrics: invalid input")

// ErrGridMismatch is returned when the two masks are not on the same grid.
var ErrGridMismatch = errors.New("metrics: masks are on different grids")

// sameGrid checks both masks and that they share size, spacing, origin and
// direction (to 1e-4 mm / 1e-6).
func sameGrid(truth, pred *volume.LabelVolume) error {
	for _, m := range []*volume.LabelVolume{truth, pred} {
		if m == nil {
			return fmt.Errorf("%w: nil mask", ErrInput)
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
		if len(m.Labels) != m.Len() {
			return fmt.Errorf("%w: %d labels for %d voxels", ErrInput, len(m.Labels), m.Len())
		}
	}
	a, b := truth.Geometry, pred.Geometry
	if a.Size != b.Size {
		return fmt.Errorf("%w: size %v vs %v; resample the prediction onto the truth's grid", ErrGridMismatch, a.Size, b.Size)
	}
	for i := 0; i < 3; i++ {
		if math.Abs(a.Spacing[i]-b.Spacing[i]) > 1e-4 || math.Abs(a.Origin[i]-b.Origin[i]) > 1e-4 {
			return fmt.Errorf("%w: spacing %v origin %v vs spacing %v origin %v", ErrGridMismatch, a.Spacing, a.Origin, b.Spacing, b.Origin)
		}
		for j := 0; j < 3; j++ {
			if math.Abs(a.Direction[i][j]-b.Direction[i][j]) > 1e-6 {
				return fmt.Errorf("%w: direction %v vs %v", ErrGridMismatch, a.Direction, b.Direction)
			}
		}
	}
	return nil
}

// Overlap holds the voxel-overlap figures of two masks.
type Overlap struct {
	// Dice is 2|T∩P|/(|T|+|P|); 1 when both masks are empty.
	Dice float64
	// TruthML and PredML are the two volumes (mL).
	TruthML, PredML float64
	// VolumeErrorPercent is 100·(PredML−TruthML)/TruthML (signed; 0 when
	// both are empty, +Inf when only the truth is empty).
	VolumeErrorPercent float64
	// Intersection is |T∩P| in voxels.
	Intersection int
}

// Compare returns the overlap figures of pred against truth.
func Compare(truth, pred *volume.LabelVolume) (Overlap, error) {
	if err := sameGrid(truth, pred); err != nil {
		return Overlap{}, err
	}
	nt, np, ni := 0, 0, 0
	for i, t := range truth.Labels {
		p := pred.Labels[i]
		if t != 0 {
			nt++
			if p != 0 {
				ni++
			}
		}
		if p != 0 {
			np++
		}
	}
	v := truth.VoxelVolumeML()
	o := Overlap{TruthML: float64(nt) * v, PredML: float64(np) * v, Intersection: ni, Dice: 1}
	if nt+np > 0 {
		o.Dice = 2 * float64(ni) / float64(nt+np)
	}
	switch {
	case nt > 0:
		o.VolumeErrorPercent = 100 * float64(np-nt) / float64(nt)
	case np > 0:
		o.VolumeErrorPercent = math.Inf(1)
	}
	return o, nil
}

// Dice returns 2|T∩P|/(|T|+|P|) of the non-zero voxels (1 when both are
// empty).
func Dice(truth, pred *volume.LabelVolume) (float64, error) {
	o, err := Compare(truth, pred)
	return o.Dice, err
}

// Surface holds symmetric surface distances in mm.
type Surface struct {
	// MeanMM is the average symmetric surface distance: the mean over the
	// surface voxels of both masks of the distance to the other surface.
	MeanMM float64
	// P95MM is the 95th-percentile Hausdorff distance: the larger of the two
	// directed 95th percentiles (linear interpolation, as numpy), as in
	// medpy's hd95.
	P95MM float64
	// MaxMM is the Hausdorff distance.
	MaxMM float64
	// TruthSurfaceVoxels and PredSurfaceVoxels count the surface voxels.
	TruthSurfaceVoxels, PredSurfaceVoxels int
}

// SurfaceDistance returns the surface distances between the masks.
// Surface voxels are foreground voxels with a 6-neighbour in the
// background (or on the grid's border); distances run between voxel
// centres, through an exact Euclidean distance transform in mm. Both masks
// empty gives zeros; one empty gives +Inf.
func SurfaceDistance(truth, pred *volume.LabelVolume) (Surface, error) {
	if err := sameGrid(truth, pred); err != nil {
		return Surface{}, err
	}
	bt, okT := truth.BoundingBox()
	bp, okP := pred.BoundingBox()
	switch {
	case !okT && !okP:
		return Surface{}, nil
	case !okT || !okP:
		inf := math.Inf(1)
		return Surface{MeanMM: inf, P95MM: inf, MaxMM: inf}, nil
	}
	// Work in the union's box plus one voxel: every surface voxel is there.
	box := bt.Union(bp).Expand(truth.Geometry, [3]int{1, 1, 1})
	ct, err := truth.Crop(box)
	if err != nil {
		return Surface{}, fmt.Errorf("surface distance: %w", err)
	}
	cp, err := pred.Crop(box)
	if err != nil {
		return Surface{}, fmt.Errorf("surface distance: %w", err)
	}
	st := surface(ct, box, truth.Size)
	sp := surface(cp, box, pred.Size)
	dt, err := volume.DistanceTransform(st)
	if err != nil {
		return Surface{}, fmt.Errorf("surface distance: %w", err)
	}
	dp, err := volume.DistanceTransform(sp)
	if err != nil {
		return Surface{}, fmt.Errorf("surface distance: %w", err)
	}
	var tp, pt []float64 // truth → pred surface, pred → truth surface
	for i, v := range st.Labels {
		if v != 0 {
			tp = append(tp, float64(dp.Data[i]))
		}
		if sp.Labels[i] != 0 {
			pt = append(pt, float64(dt.Data[i]))
		}
	}
	s := Surface{TruthSurfaceVoxels: len(tp), PredSurfaceVoxels: len(pt)}
	sum := 0.0
	for _, d := range tp {
		sum += d
		s.MaxMM = math.Max(s.MaxMM, d)
	}
	for _, d := range pt {
		sum += d
		s.MaxMM = math.Max(s.MaxMM, d)
	}
	s.MeanMM = sum / float64(len(tp)+len(pt))
	s.P95MM = math.Max(Percentile(tp, 95), Percentile(pt, 95))
	return s, nil
}

// surface returns the surface voxels of the crop m (box of a grid of size
// full): foreground voxels with a background 6-neighbour or on the border
// of the full grid.
func surface(m *volume.LabelVolume, box volume.Box, full [3]int) *volume.LabelVolume {
	out := &volume.LabelVolume{Geometry: m.Geometry, Labels: make([]uint8, len(m.Labels))}
	nx, ny, nz := m.Size[0], m.Size[1], m.Size[2]
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				i := x + nx*(y+ny*z)
				if m.Labels[i] == 0 {
					continue
				}
				edge := false
				for _, d := range [6][3]int{{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}} {
					X, Y, Z := x+d[0], y+d[1], z+d[2]
					gx, gy, gz := X+box.Min[0], Y+box.Min[1], Z+box.Min[2]
					if gx < 0 || gy < 0 || gz < 0 || gx >= full[0] || gy >= full[1] || gz >= full[2] {
						edge = true // on the grid's border
						break
					}
					// Inside the full grid; the crop has a one-voxel margin
					// wherever the grid continues, so the neighbour is in it.
					if m.Labels[X+nx*(Y+ny*Z)] == 0 {
						edge = true
						break
					}
				}
				if edge {
					out.Labels[i] = 1
				}
			}
		}
	}
	return out
}

// Percentile returns the p-th percentile of values with linear
// interpolation between order statistics (numpy's default); NaN for none.
func Percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	v := slices.Clone(values)
	sort.Float64s(v)
	pos := p / 100 * float64(len(v)-1)
	lo := int(math.Floor(pos))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	if lo < 0 {
		return v[0]
	}
	f := pos - float64(lo)
	return v[lo] + f*(v[lo+1]-v[lo])
}
