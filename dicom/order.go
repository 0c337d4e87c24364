package dicom

import (
	"fmt"
	"math"
	"sort"

	"github.com/mhpnet/node/volume"
)

// Tolerances of the stacking checks (DESIGN.md §3).
const (
	// SpacingRelTolerance and SpacingAbsTolerance: a step is uniform when it
	// is within 1 % of the median step, or within 0.01 mm.
	SpacingRelTolerance = 0.01
	SpacingAbsTolerance = 0.01 // mm
	// DuplicateTolerance: two slices closer than this along the normal
	// share a position.
	DuplicateTolerance = 0.01 // mm
	// TiltToleranceDegrees: positions advancing further than this off the
	// normal are gantry tilt (when they also drift more than
	// TiltToleranceMM sideways over the stack, which absorbs DS rounding).
	TiltToleranceDegrees = 0.1
	TiltToleranceMM      = 0.05
	// orientationTolerance bounds differences between direction cosines.
	orientationTolerance = 1e-4
)

// stack sorts the slices by their position on the slice normal
// (dot(ImagePositionPatient, row × column), never file name or
// InstanceNumber), checks that they form a regular grid, and returns its
// geometry. insts is sorted in place.
func stack(insts []Instance) (volume.Geometry, error) {
	var g volume.Geometry
	if len(insts) == 0 {
		return g, ErrNoPixelData{}
	}
	if len(insts) > MaxFrames {
		return g, ErrInvalidAttribute{Attribute: "number of slices", Value: fmt.Sprint(len(insts)),
			Want: fmt.Sprintf("at most %d", MaxFrames), Path: insts[0].Path}
	}
	first := insts[0]
	for _, in := range insts[1:] {
		if err := sameGrid(first, in); err != nil {
			return g, err
		}
	}
	var r, c [3]float64
	copy(r[:], first.ImageOrientationPatient[:3])
	copy(c[:], first.ImageOrientationPatient[3:])
	if math.Abs(norm(r)-1) > 1e-3 || math.Abs(norm(c)-1) > 1e-3 || math.Abs(dot(r, c)) > 1e-3 {
		return g, ErrMixedGeometry{Attribute: "ImageOrientationPatient (0020,0037)",
			Other:          fmt.Sprintf("%v is not two orthogonal unit vectors", first.ImageOrientationPatient),
			SOPInstanceUID: first.SOPInstanceUID}
	}
	r, c = scale(r, 1/norm(r)), scale(c, 1/norm(c))
	n := cross(r, c)
	n = scale(n, 1/norm(n))

	pos := func(in Instance) float64 { return dot(in.ImagePositionPatient, n) }
	sort.SliceStable(insts, func(i, j int) bool { return pos(insts[i]) < pos(insts[j]) })

	spacingZ := first.SliceThickness
	if len(insts) > 1 {
		steps := make([]float64, len(insts)-1)
		for i := range steps {
			steps[i] = pos(insts[i+1]) - pos(insts[i])
			if steps[i] < DuplicateTolerance {
				return g, ErrDuplicatePosition{Position: pos(insts[i]),
					SOPInstanceUIDs: [2]string{insts[i].SOPInstanceUID, insts[i+1].SOPInstanceUID}}
			}
		}
		if deg, ok := tilt(insts[0].ImagePositionPatient, insts[len(insts)-1].ImagePositionPatient, n); ok {
			return g, ErrGantryTilt{Degrees: deg}
		}
		med := median(steps)
		if err := uniform(insts, steps, med, pos); err != nil {
			return g, err
		}
		// The mean step over the whole stack carries less DS rounding than
		// any single step.
		spacingZ = (pos(insts[len(insts)-1]) - pos(insts[0])) / float64(len(insts)-1)
	}
	if !(spacingZ > 0) {
		spacingZ = 1 // a single slice without SliceThickness: any positive value keeps transforms invertible
	}
	g = volume.Geometry{
		Size:      [3]int{first.Format.Columns, first.Format.Rows, len(insts)},
		Origin:    insts[0].ImagePositionPatient,
		Spacing:   [3]float64{first.PixelSpacing[1], first.PixelSpacing[0], spacingZ},
		Direction: [3][3]float64{r, c, n},
	}
	if err := g.Validate(); err != nil {
		return g, ErrInvalidAttribute{Attribute: "volume geometry", Value: err.Error(), Want: "a bounded grid", Path: first.Path}
	}
	return g, nil
}

// sameGrid checks that two slices share size, pixel spacing and orientation.
func sameGrid(a, b Instance) error {
	mixed := func(attr string, x, y any) error {
		return ErrMixedGeometry{Attribute: attr, First: fmt.Sprint(x), Other: fmt.Sprint(y), SOPInstanceUID: b.SOPInstanceUID}
	}
	switch {
	case a.Format.Rows != b.Format.Rows:
		return mixed("Rows (0028,0010)", a.Format.Rows, b.Format.Rows)
	case a.Format.Columns != b.Format.Columns:
		return mixed("Columns (0028,0011)", a.Format.Columns, b.Format.Columns)
	}
	for i := range 2 {
		if math.Abs(a.PixelSpacing[i]-b.PixelSpacing[i]) > 1e-4*math.Max(a.PixelSpacing[i], 1) {
			return mixed("PixelSpacing (0028,0030)", a.PixelSpacing, b.PixelSpacing)
		}
	}
	for i := range 6 {
		if math.Abs(a.ImageOrientationPatient[i]-b.ImageOrientationPatient[i]) > orientationTolerance {
			return mixed("ImageOrientationPatient (0020,0037)", a.ImageOrientationPatient, b.ImageOrientationPatient)
		}
	}
	return nil
}

// tilt returns the angle between the normal and the line through the first
// and last positions, and whether it counts as gantry tilt.
func tilt(p0, p1, n [3]float64) (float64, bool) {
	v := sub(p1, p0)
	l := norm(v)
	if l == 0 {
		return 0, false
	}
	along := dot(v, n)
	side := norm(sub(v, scale(n, along)))
	deg := math.Atan2(side, math.Abs(along)) * 180 / math.Pi
	return deg, deg > TiltToleranceDegrees && side > TiltToleranceMM
}

// uniform checks every step against the median: a step near k×median
// (k ≥ 2) is a gap of k-1 missing slices; any other deviation beyond the
// tolerance is non-uniform spacing.
func uniform(insts []Instance, steps []float64, med float64, pos func(Instance) float64) error {
	tol := func(want float64) float64 { return math.Max(SpacingRelTolerance*want, SpacingAbsTolerance) }
	var missing *ErrMissingSlices
	lo, hi := steps[0], steps[0]
	for _, s := range steps {
		lo, hi = math.Min(lo, s), math.Max(hi, s)
	}
	for i, s := range steps {
		if math.Abs(s-med) <= tol(med) {
			continue
		}
		k := math.Round(s / med)
		if k >= 2 && math.Abs(s-k*med) <= tol(k*med) {
			if missing == nil {
				missing = &ErrMissingSlices{After: i, AfterSOPInstanceUID: insts[i].SOPInstanceUID,
					AfterPosition: pos(insts[i]), Gap: s, Spacing: med, Missing: int(k) - 1}
			}
			missing.Gaps++
			continue
		}
		return ErrNonUniformSpacing{Min: lo, Max: hi, Median: med, At: i, Step: s}
	}
	if missing != nil {
		return *missing
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64   { return math.Sqrt(dot(a, a)) }
func sub(a, b [3]float64) [3]float64 {
	return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]}
}
func scale(a [3]float64, k float64) [3]float64 { return [3]float64{a[0] * k, a[1] * k, a[2] * k} }
func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
