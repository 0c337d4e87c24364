// Package measure turns a segmentation (a volume.LabelVolume holding liver
// and tumor labels) into the figures a radiologist reads: liver volume, and
// per tumor its volume, longest axial diameter as RECIST measures it,
// centroid in patient coordinates and slice range. It sits after the
// segmentation stages and before the SEG encoder and the job result; it
// knows nothing of DICOM.
package measure

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/mhpnet/node/volume"
)

// ErrInput is returned for an unusable label volume or label choice.
var ErrInput = errors.New("measure: invalid input")

// Labels names the label values of a segmentation.
type Labels struct {
	// Liver is the parenchyma label (default 1).
	Liver uint8
	// Tumor is the tumor label (default 2).
	Tumor uint8
}

// DefaultLabels are the node's label values: 1 liver, 2 tumor (SEG
// segments 1 and 2).
func DefaultLabels() Labels { return Labels{Liver: 1, Tumor: 2} }

// Liver describes the segmented liver.
type Liver struct {
	// VolumeML is the organ's volume: parenchyma and tumors (mL).
	VolumeML float64
	// ParenchymaML is the volume labelled liver only (mL).
	ParenchymaML float64
	// TumorML is the total tumor volume (mL).
	TumorML float64
	// TumorBurdenPercent is TumorML as a share of VolumeML (0 without liver).
	TumorBurdenPercent float64
}

// Tumor describes one tumor: one connected component of the tumor label.
type Tumor struct {
	// ID numbers tumors from 1 in scan order of their first voxel (z
	// slowest), which is stable for a given mask.
	ID int
	// Voxels is the voxel count.
	Voxels int
	// VolumeML is the volume in millilitres.
	VolumeML float64
	// LongestAxialDiameterMM is the longest in-plane distance across the
	// tumor on any axial slice (RECIST 1.1), measured between the
	// midpoints of its boundary edges, so a disc of radius R measures
	// 2R within about one voxel.
	LongestAxialDiameterMM float64
	// DiameterSlice is the slice index (z) of that diameter.
	DiameterSlice int
	// DiameterEndsLPS are the diameter's two end points (patient mm).
	DiameterEndsLPS [2][3]float64
	// CentroidLPS is the centroid of the tumor's voxel centres in patient
	// coordinates (mm).
	CentroidLPS [3]float64
	// CentroidVoxel is the same centroid in continuous voxel indices.
	CentroidVoxel [3]float64
	// FirstSlice and LastSlice are the slice range (z, inclusive).
	FirstSlice, LastSlice int
	// Box is the tumor's bounding box in voxels.
	Box volume.Box
}

// Report gathers the measurements of one segmentation.
type Report struct {
	Liver  Liver
	Tumors []Tumor
}

func check(l *volume.LabelVolume) error {
	if l == nil {
		return fmt.Errorf("%w: nil label volume", ErrInput)
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	if len(l.Labels) != l.Len() {
		return fmt.Errorf("%w: %d labels for %d voxels", ErrInput, len(l.Labels), l.Len())
	}
	return nil
}

// VolumeML returns the volume in millilitres of the voxels carrying label.
func VolumeML(l *volume.LabelVolume, label uint8) float64 {
	return float64(l.Count(label)) * l.VoxelVolumeML()
}

// Measure returns the liver volume and the tumors of l, tumors being the
// 6-connected components of labels.Tumor (the zero Labels means
// DefaultLabels).
func Measure(l *volume.LabelVolume, labels Labels) (*Report, error) {
	if labels == (Labels{}) {
		labels = DefaultLabels()
	}
	if labels.Liver == labels.Tumor {
		return nil, fmt.Errorf("%w: liver and tumor share label %d", ErrInput, labels.Liver)
	}
	if err := check(l); err != nil {
		return nil, err
	}
	nl, nt := 0, 0
	for _, v := range l.Labels {
		switch v {
		case labels.Liver:
			nl++
		case labels.Tumor:
			nt++
		}
	}
	vml := l.VoxelVolumeML()
	r := &Report{Liver: Liver{
		VolumeML:     float64(nl+nt) * vml,
		ParenchymaML: float64(nl) * vml,
		TumorML:      float64(nt) * vml,
	}}
	if nl+nt > 0 {
		r.Liver.TumorBurdenPercent = 100 * float64(nt) / float64(nl+nt)
	}
	tumors, err := Tumors(l, labels.Tumor, volume.Conn6)
	if err != nil {
		return nil, err
	}
	r.Tumors = tumors
	return r, nil
}

// Tumors measures each connected component (conn) of the voxels of l
// equal to label. It works inside the label's bounding box, so its memory
// follows the tumors' extent, not the grid's.
func Tumors(l *volume.LabelVolume, label uint8, conn volume.Connectivity) ([]Tumor, error) {
	if err := check(l); err != nil {
		return nil, err
	}
	bb, ok := l.LabelBoundingBox(label)
	if !ok {
		return nil, nil
	}
	crop, err := l.Crop(bb)
	if err != nil {
		return nil, fmt.Errorf("measure tumors: %w", err)
	}
	mask := crop.Select(label)
	comps, err := volume.LabelComponents(mask, conn)
	if err != nil {
		return nil, fmt.Errorf("measure tumors: %w", err)
	}
	n := len(comps.Components)
	tumors := make([]Tumor, n)
	sums := make([][3]float64, n)
	nx, ny, nz := mask.Size[0], mask.Size[1], mask.Size[2]
	vml := l.VoxelVolumeML()
	for k, c := range comps.Components {
		tumors[k] = Tumor{ID: k + 1, Voxels: c.Voxels, VolumeML: float64(c.Voxels) * vml, DiameterSlice: -1}
		b := c.Box
		for a := 0; a < 3; a++ {
			b.Min[a] += bb.Min[a]
			b.Max[a] += bb.Min[a]
		}
		tumors[k].Box = b
		tumors[k].FirstSlice, tumors[k].LastSlice = b.Min[2], b.Max[2]-1
	}
	// Per slice: boundary-edge midpoints per component (in voxel units),
	// then the diameter of each component touched on that slice.
	pts := make([][][2]float64, n)
	var touched []int32
	sx, sy := l.Spacing[0], l.Spacing[1]
	for z := 0; z < nz; z++ {
		touched = touched[:0]
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				i := x + nx*(y+ny*z)
				id := comps.Labels[i]
				if id == 0 {
					continue
				}
				k := id - 1
				sums[k][0] += float64(x)
				sums[k][1] += float64(y)
				sums[k][2] += float64(z)
				other := func(dx, dy int) bool {
					X, Y := x+dx, y+dy
					return X < 0 || Y < 0 || X >= nx || Y >= ny || comps.Labels[X+nx*(Y+ny*z)] != id
				}
				fx, fy := float64(x), float64(y)
				add := func(px, py float64) {
					if len(pts[k]) == 0 {
						touched = append(touched, k)
					}
					pts[k] = append(pts[k], [2]float64{px, py})
				}
				if other(-1, 0) {
					add(fx-0.5, fy)
				}
				if other(1, 0) {
					add(fx+0.5, fy)
				}
				if other(0, -1) {
					add(fx, fy-0.5)
				}
				if other(0, 1) {
					add(fx, fy+0.5)
				}
			}
		}
		for _, k := range touched {
			d, a, b := diameter(pts[k], sx, sy)
			t := &tumors[k]
			if d > t.LongestAxialDiameterMM {
				t.LongestAxialDiameterMM = d
				t.DiameterSlice = z + bb.Min[2]
				zf := float64(z + bb.Min[2])
				t.DiameterEndsLPS[0] = l.VoxelToPatient([3]float64{a[0] + float64(bb.Min[0]), a[1] + float64(bb.Min[1]), zf})
				t.DiameterEndsLPS[1] = l.VoxelToPatient([3]float64{b[0] + float64(bb.Min[0]), b[1] + float64(bb.Min[1]), zf})
			}
			pts[k] = pts[k][:0]
		}
	}
	for k := range tumors {
		c := [3]float64{}
		for a := 0; a < 3; a++ {
			c[a] = sums[k][a]/float64(tumors[k].Voxels) + float64(bb.Min[a])
		}
		tumors[k].CentroidVoxel = c
		tumors[k].CentroidLPS = l.VoxelToPatient(c)
	}
	return tumors, nil
}

// diameter returns the largest distance (mm) between two of the points
// (voxel units, scaled by sx, sy) and the two points: the convex hull
// (Andrew's monotone chain), then all pairs of hull vertices.
func diameter(p [][2]float64, sx, sy float64) (float64, [2]float64, [2]float64) {
	if len(p) == 0 {
		return 0, [2]float64{}, [2]float64{}
	}
	sort.Slice(p, func(i, j int) bool {
		if p[i][0] != p[j][0] {
			return p[i][0] < p[j][0]
		}
		return p[i][1] < p[j][1]
	})
	cross := func(o, a, b [2]float64) float64 {
		return (a[0]-o[0])*sx*(b[1]-o[1])*sy - (a[1]-o[1])*sy*(b[0]-o[0])*sx
	}
	hull := make([][2]float64, 0, 2*len(p))
	for _, q := range p {
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], q) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, q)
	}
	lower := len(hull) + 1
	for i := len(p) - 2; i >= 0; i-- {
		q := p[i]
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], q) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, q)
	}
	best, ba, bb := 0.0, p[0], p[0]
	for i := 0; i < len(hull); i++ {
		for j := i + 1; j < len(hull); j++ {
			dx := (hull[i][0] - hull[j][0]) * sx
			dy := (hull[i][1] - hull[j][1]) * sy
			if d := dx*dx + dy*dy; d > best {
				best, ba, bb = d, hull[i], hull[j]
			}
		}
	}
	return math.Sqrt(best), ba, bb
}
