package metrics

import (
	"fmt"
	"math"
	"slices"

	"github.com/mhpnet/node/volume"
)

// TumorMatch is one ground-truth tumor (a connected component of the
// truth mask) against the predicted components that touch it.
type TumorMatch struct {
	// ID numbers truth components from 1 in scan order (z slowest).
	ID int
	// Voxels and VolumeML give the truth component's size.
	Voxels   int
	VolumeML float64
	// CentroidLPS is the truth component's centroid (patient mm).
	CentroidLPS [3]float64
	// Predicted lists the IDs of the predicted components overlapping it.
	Predicted []int
	// Dice is 2|G∩P|/(|G|+|P|) where G is this component and P the union
	// of the predicted components that touch it.
	Dice float64
	// Hit is true when a predicted component overlaps the tumor or has its
	// centroid inside it.
	Hit bool
}

// PredictedComponent is one connected component of the prediction.
type PredictedComponent struct {
	// ID numbers predicted components from 1 in scan order.
	ID       int
	Voxels   int
	VolumeML float64
	// CentroidLPS is the component's centroid (patient mm).
	CentroidLPS [3]float64
	// Truth lists the IDs of the truth components it overlaps or whose
	// voxel holds its centroid; empty for a false positive.
	Truth []int
}

// Detection is the lesion-level comparison of a prediction with the truth.
type Detection struct {
	Tumors    []TumorMatch
	Predicted []PredictedComponent
	// Hits counts truth tumors with Hit set.
	Hits int
	// TruePositives counts predicted components matched to a truth tumor;
	// FalsePositives the others, and FalsePositiveML their volume.
	TruePositives, FalsePositives int
	FalsePositiveML               float64
	// Recall is Hits / len(Tumors) (1 when there is no truth tumor).
	Recall float64
	// Precision is TruePositives / len(Predicted) (1 when nothing is
	// predicted).
	Precision float64
}

// centroids returns each component's centroid in voxel indices.
func centroids(c *volume.Components) [][3]float64 {
	sums := make([][3]float64, len(c.Components))
	nx, ny := c.Size[0], c.Size[1]
	for i, l := range c.Labels {
		if l == 0 {
			continue
		}
		x, y, z := i%nx, (i/nx)%ny, i/(nx*ny)
		s := &sums[l-1]
		s[0] += float64(x)
		s[1] += float64(y)
		s[2] += float64(z)
	}
	for k, comp := range c.Components {
		for a := 0; a < 3; a++ {
			sums[k][a] /= float64(comp.Voxels)
		}
	}
	return sums
}

// voxelAt returns the index of the voxel nearest to continuous index v.
func voxelAt(g volume.Geometry, v [3]float64) int {
	var p [3]int
	for a := 0; a < 3; a++ {
		p[a] = min(max(int(math.Round(v[a])), 0), g.Size[a]-1)
	}
	return g.Index(p[0], p[1], p[2])
}

// MatchTumors labels the connected components (conn) of both masks and
// matches each truth component with the predicted components touching it.
func MatchTumors(truth, pred *volume.LabelVolume, conn volume.Connectivity) (*Detection, error) {
	if err := sameGrid(truth, pred); err != nil {
		return nil, err
	}
	// Work inside the union of both masks' boxes: component labels cost
	// four bytes per voxel, and lesions occupy a small part of a CT.
	bt, _ := truth.BoundingBox()
	bp, _ := pred.BoundingBox()
	if box := bt.Union(bp); !box.Empty() && box != volume.FullBox(truth.Geometry) {
		var err error
		if truth, err = truth.Crop(box); err != nil {
			return nil, fmt.Errorf("match tumors: %w", err)
		}
		if pred, err = pred.Crop(box); err != nil {
			return nil, fmt.Errorf("match tumors: %w", err)
		}
	}
	tc, err := volume.LabelComponents(truth, conn)
	if err != nil {
		return nil, fmt.Errorf("match tumors: %w", err)
	}
	pc, err := volume.LabelComponents(pred, conn)
	if err != nil {
		return nil, fmt.Errorf("match tumors: %w", err)
	}
	// Overlapping pairs as sorted (truth, pred) keys with voxel counts:
	// only overlapping voxels are recorded, no per-voxel maps.
	var keys []uint64
	for i, t := range tc.Labels {
		if t != 0 {
			if p := pc.Labels[i]; p != 0 {
				keys = append(keys, uint64(t)<<32|uint64(p))
			}
		}
	}
	slices.Sort(keys)
	type pair struct {
		t, p int
		n    int
	}
	var pairs []pair
	for i := 0; i < len(keys); {
		j := i
		for j < len(keys) && keys[j] == keys[i] {
			j++
		}
		pairs = append(pairs, pair{t: int(keys[i] >> 32), p: int(keys[i] & 0xffffffff), n: j - i})
		i = j
	}
	g := truth.Geometry
	vml := g.VoxelVolumeML()
	d := &Detection{}
	tcent, pcent := centroids(tc), centroids(pc)
	for k, c := range tc.Components {
		d.Tumors = append(d.Tumors, TumorMatch{ID: k + 1, Voxels: c.Voxels, VolumeML: float64(c.Voxels) * vml, CentroidLPS: g.VoxelToPatient(tcent[k])})
	}
	for k, c := range pc.Components {
		d.Predicted = append(d.Predicted, PredictedComponent{ID: k + 1, Voxels: c.Voxels, VolumeML: float64(c.Voxels) * vml, CentroidLPS: g.VoxelToPatient(pcent[k])})
	}
	inter := make([]int, len(d.Tumors))
	for _, pr := range pairs {
		tm := &d.Tumors[pr.t-1]
		tm.Predicted = append(tm.Predicted, pr.p)
		inter[pr.t-1] += pr.n
		pp := &d.Predicted[pr.p-1]
		pp.Truth = append(pp.Truth, pr.t)
	}
	// A predicted component whose centroid falls inside a truth tumor hits
	// it even without overlap (a ring around a tumor, say).
	for k := range d.Predicted {
		if t := tc.Labels[voxelAt(g, pcent[k])]; t != 0 && !slices.Contains(d.Predicted[k].Truth, int(t)) {
			d.Predicted[k].Truth = append(d.Predicted[k].Truth, int(t))
			d.Tumors[t-1].Hit = true
		}
	}
	for k := range d.Tumors {
		tm := &d.Tumors[k]
		np := 0
		for _, p := range tm.Predicted {
			np += d.Predicted[p-1].Voxels
		}
		tm.Dice = 2 * float64(inter[k]) / float64(tm.Voxels+np)
		if inter[k] > 0 {
			tm.Hit = true
		}
		if tm.Hit {
			d.Hits++
		}
	}
	for _, p := range d.Predicted {
		if len(p.Truth) > 0 {
			d.TruePositives++
		} else {
			d.FalsePositives++
			d.FalsePositiveML += p.VolumeML
		}
	}
	d.Recall, d.Precision = 1, 1
	if len(d.Tumors) > 0 {
		d.Recall = float64(d.Hits) / float64(len(d.Tumors))
	}
	if len(d.Predicted) > 0 {
		d.Precision = float64(d.TruePositives) / float64(len(d.Predicted))
	}
	return d, nil
}
