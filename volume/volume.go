// Package volume holds 3D images with their patient geometry: Volume (CT in
// Hounsfield units) and LabelVolume (masks). It sits between dicom (which
// builds volumes from files) and segmentation (which reads them and returns
// label volumes); it knows nothing of DICOM encoding.
//
// Voxel order is x fastest (columns), then y (rows), then z (slices):
// index = x + Nx*(y + Ny*z). Axis x runs along the DICOM row direction
// (first ImageOrientationPatient triplet), y along the column direction
// (second triplet) and z along the slice normal, in the order the slices
// are sorted (ascending projection of ImagePositionPatient on the normal).
package volume

import (
	"errors"
	"fmt"
	"math"
)

// ErrGeometry is returned when a geometry or a voxel buffer is inconsistent.
var ErrGeometry = errors.New("volume: invalid geometry")

// MaxVoxels bounds every volume this package allocates (2048×2048×2048 would
// be 16 GiB as int16; 1024³ is already far beyond any CT the node accepts).
const MaxVoxels = 1 << 30

// Geometry places a voxel grid in the patient coordinate system (LPS, mm).
type Geometry struct {
	// Size is the number of voxels along x (columns), y (rows), z (slices).
	Size [3]int
	// Origin is the patient position (LPS, mm) of the centre of voxel (0,0,0):
	// the ImagePositionPatient of the first slice.
	Origin [3]float64
	// Spacing is the distance in mm between voxel centres along x, y, z
	// (PixelSpacing column spacing, row spacing, then slice spacing from positions).
	Spacing [3]float64
	// Direction holds the unit vector of each axis in patient space:
	// Direction[0] = row direction, Direction[1] = column direction,
	// Direction[2] = slice normal (row × column).
	Direction [3][3]float64
}

// Validate reports whether the geometry describes a usable, bounded grid.
func (g Geometry) Validate() error {
	n := 1
	for a := 0; a < 3; a++ {
		if g.Size[a] <= 0 {
			return fmt.Errorf("%w: size %v has a non-positive axis", ErrGeometry, g.Size)
		}
		if !(g.Spacing[a] > 0) || math.IsInf(g.Spacing[a], 0) {
			return fmt.Errorf("%w: spacing %v must be positive and finite", ErrGeometry, g.Spacing)
		}
		if n > MaxVoxels/g.Size[a] {
			return fmt.Errorf("%w: size %v exceeds %d voxels", ErrGeometry, g.Size, MaxVoxels)
		}
		n *= g.Size[a]
	}
	return nil
}

// Len is the number of voxels.
func (g Geometry) Len() int { return g.Size[0] * g.Size[1] * g.Size[2] }

// Index returns the linear index of voxel (x, y, z).
func (g Geometry) Index(x, y, z int) int { return x + g.Size[0]*(y+g.Size[1]*z) }

// Contains reports whether (x, y, z) lies inside the grid.
func (g Geometry) Contains(x, y, z int) bool {
	return x >= 0 && y >= 0 && z >= 0 && x < g.Size[0] && y < g.Size[1] && z < g.Size[2]
}

// VoxelVolumeML is the volume of one voxel in millilitres.
func (g Geometry) VoxelVolumeML() float64 {
	return g.Spacing[0] * g.Spacing[1] * g.Spacing[2] / 1000
}

// VoxelToPatient maps continuous voxel coordinates to patient LPS (mm).
func (g Geometry) VoxelToPatient(v [3]float64) [3]float64 {
	p := g.Origin
	for a := 0; a < 3; a++ {
		d := v[a] * g.Spacing[a]
		for c := 0; c < 3; c++ {
			p[c] += d * g.Direction[a][c]
		}
	}
	return p
}

// PatientToVoxel maps a patient LPS point (mm) to continuous voxel
// coordinates. Direction vectors are assumed orthonormal, as DICOM requires
// of ImageOrientationPatient and as the reader enforces.
func (g Geometry) PatientToVoxel(p [3]float64) [3]float64 {
	var d [3]float64
	for c := 0; c < 3; c++ {
		d[c] = p[c] - g.Origin[c]
	}
	var v [3]float64
	for a := 0; a < 3; a++ {
		v[a] = (d[0]*g.Direction[a][0] + d[1]*g.Direction[a][1] + d[2]*g.Direction[a][2]) / g.Spacing[a]
	}
	return v
}

// SlicePosition is the patient position of the first voxel of slice z
// (the ImagePositionPatient a DICOM slice at that index carries).
func (g Geometry) SlicePosition(z int) [3]float64 {
	return g.VoxelToPatient([3]float64{0, 0, float64(z)})
}

// Volume is a CT image in Hounsfield units.
type Volume struct {
	Geometry
	// HU holds one value per voxel in x-fastest order.
	HU []int16
}

// NewVolume allocates a volume filled with fill after validating g.
func NewVolume(g Geometry, fill int16) (*Volume, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	v := &Volume{Geometry: g, HU: make([]int16, g.Len())}
	if fill != 0 {
		for i := range v.HU {
			v.HU[i] = fill
		}
	}
	return v, nil
}

// At returns the HU value of voxel (x, y, z).
func (v *Volume) At(x, y, z int) int16 { return v.HU[v.Index(x, y, z)] }

// LabelVolume is a mask or a multi-label segmentation on a voxel grid;
// 0 is background.
type LabelVolume struct {
	Geometry
	// Labels holds one label per voxel in x-fastest order.
	Labels []uint8
}

// NewLabelVolume allocates an all-background label volume after validating g.
func NewLabelVolume(g Geometry) (*LabelVolume, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &LabelVolume{Geometry: g, Labels: make([]uint8, g.Len())}, nil
}

// At returns the label of voxel (x, y, z).
func (l *LabelVolume) At(x, y, z int) uint8 { return l.Labels[l.Index(x, y, z)] }

// Count returns the number of voxels carrying label.
func (l *LabelVolume) Count(label uint8) int {
	n := 0
	for _, v := range l.Labels {
		if v == label {
			n++
		}
	}
	return n
}
