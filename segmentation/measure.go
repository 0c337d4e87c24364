package segmentation

import (
	"math"
	"sort"

	"github.com/mhpnet/node/volume"
)

// LiverMeasure describes the segmented liver.
type LiverMeasure struct {
	// VolumeML is the liver volume including tumors (mL).
	VolumeML float64
	// TumorML is the total tumor volume (mL).
	TumorML float64
}

// TumorMeasure describes one tumor (one 6-connected component of
// LabelTumor).
type TumorMeasure struct {
	VolumeML float64
	// LongestAxialDiameterMM is the longest in-plane diameter over all
	// axial slices, as RECIST measures it.
	LongestAxialDiameterMM float64
	// CentroidLPS is the centroid in patient coordinates (mm).
	CentroidLPS [3]float64
	// Voxels is the voxel count.
	Voxels int
}

// measureLabels computes liver and per-tumor measurements of a label
// volume holding LabelLiver and LabelTumor.
func measureLabels(l *volume.LabelVolume) (LiverMeasure, []TumorMeasure) {
	var lm LiverMeasure
	vml := l.VoxelVolumeML()
	nl, nt := 0, 0
	for _, v := range l.Labels {
		switch v {
		case LabelLiver:
			nl++
		case LabelTumor:
			nt++
		}
	}
	lm.VolumeML = float64(nl+nt) * vml
	lm.TumorML = float64(nt) * vml
	if nt == 0 {
		return lm, nil
	}
	b, ok := maskBox(l.Labels, l.Geometry, LabelTumor, 0)
	if !ok {
		return lm, nil
	}
	bs := b.size()
	sub := make([]uint8, bs[0]*bs[1]*bs[2])
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := l.Index(b.lo[0], b.lo[1]+y, b.lo[2]+z)
			dst := bs[0] * (y + bs[1]*z)
			for x := 0; x < bs[0]; x++ {
				if l.Labels[src+x] == LabelTumor {
					sub[dst+x] = 1
				}
			}
		}
	}
	lab, sizes := components(sub, bs)
	n := len(sizes)
	sum := make([][3]float64, n)
	// boundary points per component per slice for diameters
	type key struct {
		id int32
		z  int
	}
	edge := map[key][][2]int{}
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			for x := 0; x < bs[0]; x++ {
				i := x + bs[0]*(y+bs[1]*z)
				id := lab[i]
				if id == 0 {
					continue
				}
				sum[id][0] += float64(x + b.lo[0])
				sum[id][1] += float64(y + b.lo[1])
				sum[id][2] += float64(z + b.lo[2])
				if x == 0 || y == 0 || x == bs[0]-1 || y == bs[1]-1 || lab[i-1] != id || lab[i+1] != id || lab[i-bs[0]] != id || lab[i+bs[0]] != id {
					k := key{id, z}
					edge[k] = append(edge[k], [2]int{x, y})
				}
			}
		}
	}
	diam := make([]float64, n)
	sx, sy := l.Spacing[0], l.Spacing[1]
	for k, pts := range edge {
		best := 0.0
		if len(pts) == 1 {
			best = math.Min(sx, sy)
		}
		for i := 0; i < len(pts); i++ {
			for j := i + 1; j < len(pts); j++ {
				dx := float64(pts[i][0]-pts[j][0]) * sx
				dy := float64(pts[i][1]-pts[j][1]) * sy
				if d := dx*dx + dy*dy; d > best {
					best = d
				}
			}
		}
		d := math.Sqrt(best)
		if d > diam[k.id] {
			diam[k.id] = d
		}
	}
	var out []TumorMeasure
	for id := 1; id < n; id++ {
		c := float64(sizes[id])
		out = append(out, TumorMeasure{
			VolumeML:               c * vml,
			Voxels:                 sizes[id],
			LongestAxialDiameterMM: diam[id],
			CentroidLPS:            l.VoxelToPatient([3]float64{sum[id][0] / c, sum[id][1] / c, sum[id][2] / c}),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Voxels > out[j].Voxels })
	return lm, out
}
