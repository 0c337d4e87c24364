package volume

import (
	"fmt"
	"math"
)

// Box is an axis-aligned block of voxels, half-open: it holds the voxels
// (x, y, z) with Min[a] <= v[a] < Max[a]. The zero Box is empty.
type Box struct {
	Min, Max [3]int
}

// FullBox returns the box covering the whole grid of g.
func FullBox(g Geometry) Box { return Box{Max: g.Size} }

// Empty reports whether the box holds no voxel.
func (b Box) Empty() bool {
	return b.Max[0] <= b.Min[0] || b.Max[1] <= b.Min[1] || b.Max[2] <= b.Min[2]
}

// Size returns the number of voxels along each axis (0 for an empty box).
func (b Box) Size() [3]int {
	if b.Empty() {
		return [3]int{}
	}
	return [3]int{b.Max[0] - b.Min[0], b.Max[1] - b.Min[1], b.Max[2] - b.Min[2]}
}

// Len returns the number of voxels in the box.
func (b Box) Len() int {
	s := b.Size()
	return s[0] * s[1] * s[2]
}

// Contains reports whether voxel (x, y, z) lies inside the box.
func (b Box) Contains(x, y, z int) bool {
	return x >= b.Min[0] && x < b.Max[0] && y >= b.Min[1] && y < b.Max[1] && z >= b.Min[2] && z < b.Max[2]
}

// Intersect returns the voxels common to b and o (possibly empty).
func (b Box) Intersect(o Box) Box {
	var r Box
	for a := 0; a < 3; a++ {
		r.Min[a] = max(b.Min[a], o.Min[a])
		r.Max[a] = min(b.Max[a], o.Max[a])
	}
	if r.Empty() {
		return Box{}
	}
	return r
}

// Union returns the smallest box holding both b and o; an empty operand is
// ignored.
func (b Box) Union(o Box) Box {
	if b.Empty() {
		return o
	}
	if o.Empty() {
		return b
	}
	var r Box
	for a := 0; a < 3; a++ {
		r.Min[a] = min(b.Min[a], o.Min[a])
		r.Max[a] = max(b.Max[a], o.Max[a])
	}
	return r
}

// Expand grows the box by n[a] voxels on both sides of each axis a, then
// clips it to the grid of g. An empty box stays empty.
func (b Box) Expand(g Geometry, n [3]int) Box {
	if b.Empty() {
		return Box{}
	}
	for a := 0; a < 3; a++ {
		b.Min[a] -= n[a]
		b.Max[a] += n[a]
	}
	return b.Intersect(FullBox(g))
}

// ExpandMM grows the box by marginMM millimetres on every side (rounded up
// to whole voxels along each axis, so anisotropic spacing is honoured) and
// clips it to the grid of g.
func (b Box) ExpandMM(g Geometry, marginMM float64) Box {
	return b.Expand(g, MarginVoxels(g, marginMM))
}

// MarginVoxels converts a margin in millimetres into whole voxels per axis
// (rounded up; a non-positive or non-finite margin gives 0).
func MarginVoxels(g Geometry, marginMM float64) [3]int {
	var n [3]int
	if !(marginMM > 0) || math.IsInf(marginMM, 0) {
		return n
	}
	for a := 0; a < 3; a++ {
		v := math.Ceil(marginMM/g.Spacing[a] - 1e-9)
		if v > float64(MaxVoxels) {
			v = float64(MaxVoxels)
		}
		n[a] = int(v)
	}
	return n
}

// String formats the box as [x0:x1, y0:y1, z0:z1] (half-open ranges).
func (b Box) String() string {
	return fmt.Sprintf("[%d:%d, %d:%d, %d:%d]", b.Min[0], b.Max[0], b.Min[1], b.Max[1], b.Min[2], b.Max[2])
}

// checkBox reports an error unless b is a non-empty box inside the grid of g.
func checkBox(g Geometry, b Box) error {
	if b.Empty() {
		return fmt.Errorf("%w: box %v is empty", ErrGeometry, b)
	}
	for a := 0; a < 3; a++ {
		if b.Min[a] < 0 || b.Max[a] > g.Size[a] {
			return fmt.Errorf("%w: box %v is outside the grid of size %v", ErrGeometry, b, g.Size)
		}
	}
	return nil
}

// Crop returns the geometry of the voxels of box b: same spacing and
// direction, size of the box, origin at the patient position of voxel b.Min.
func (g Geometry) Crop(b Box) (Geometry, error) {
	if err := g.Validate(); err != nil {
		return Geometry{}, err
	}
	if err := checkBox(g, b); err != nil {
		return Geometry{}, err
	}
	c := g
	c.Size = b.Size()
	c.Origin = g.VoxelToPatient([3]float64{float64(b.Min[0]), float64(b.Min[1]), float64(b.Min[2])})
	return c, nil
}

// copyBox copies the box b of src (grid size ss) into dst (grid size ds)
// at offset off, row by row.
func copyBox[T any](dst []T, ds [3]int, off [3]int, src []T, ss [3]int, b Box) {
	n := b.Max[0] - b.Min[0]
	for z := b.Min[2]; z < b.Max[2]; z++ {
		for y := b.Min[1]; y < b.Max[1]; y++ {
			si := b.Min[0] + ss[0]*(y+ss[1]*z)
			di := off[0] + ds[0]*((y-b.Min[1]+off[1])+ds[1]*(z-b.Min[2]+off[2]))
			copy(dst[di:di+n], src[si:si+n])
		}
	}
}

// cropData returns the geometry of box b of g and a copy of its voxels;
// what names the volume kind in errors.
func cropData[T any](what string, g Geometry, data []T, b Box) (Geometry, []T, error) {
	cg, err := g.Crop(b)
	if err != nil {
		return Geometry{}, nil, fmt.Errorf("crop %s: %w", what, err)
	}
	if len(data) != g.Len() {
		return Geometry{}, nil, fmt.Errorf("crop %s: %w: %d values for %d voxels", what, ErrGeometry, len(data), g.Len())
	}
	out := make([]T, cg.Len())
	copyBox(out, cg.Size, [3]int{}, data, g.Size, b)
	return cg, out, nil
}

// pasteData writes every voxel of src (grid sg) into dst (grid dg) at
// offset at; what names the volume kind in errors.
func pasteData[T any](what string, dg Geometry, dst []T, sg Geometry, src []T, at [3]int) error {
	b, err := pasteBox(dg, sg.Size, at)
	if err != nil {
		return err
	}
	if len(src) != sg.Len() || len(dst) != dg.Len() {
		return fmt.Errorf("paste %s: %w: buffer length does not match size", what, ErrGeometry)
	}
	copyBox(dst, dg.Size, b.Min, src, sg.Size, FullBox(sg))
	return nil
}

// Crop returns a copy of the voxels of box b with the cropped geometry.
func (v *Volume) Crop(b Box) (*Volume, error) {
	if v == nil {
		return nil, fmt.Errorf("crop volume: %w: nil volume", ErrGeometry)
	}
	g, hu, err := cropData("volume", v.Geometry, v.HU, b)
	if err != nil {
		return nil, err
	}
	return &Volume{Geometry: g, HU: hu}, nil
}

// Crop returns a copy of the voxels of box b with the cropped geometry.
func (l *LabelVolume) Crop(b Box) (*LabelVolume, error) {
	if l == nil {
		return nil, fmt.Errorf("crop labels: %w: nil volume", ErrGeometry)
	}
	g, labels, err := cropData("labels", l.Geometry, l.Labels, b)
	if err != nil {
		return nil, err
	}
	return &LabelVolume{Geometry: g, Labels: labels}, nil
}

// Crop returns a copy of the voxels of box b with the cropped geometry.
func (f *Float32Volume) Crop(b Box) (*Float32Volume, error) {
	if f == nil {
		return nil, fmt.Errorf("crop float volume: %w: nil volume", ErrGeometry)
	}
	g, data, err := cropData("float volume", f.Geometry, f.Data, b)
	if err != nil {
		return nil, err
	}
	return &Float32Volume{Geometry: g, Data: data}, nil
}

// pasteBox checks that a crop of size src placed at min fits in dst and
// returns the box it occupies.
func pasteBox(dst Geometry, src [3]int, at [3]int) (Box, error) {
	b := Box{Min: at, Max: [3]int{at[0] + src[0], at[1] + src[1], at[2] + src[2]}}
	if err := checkBox(dst, b); err != nil {
		return Box{}, fmt.Errorf("paste: %w", err)
	}
	return b, nil
}

// Paste writes every voxel of src into l at offset at (the Min of the box
// src was cropped from). The grids must share spacing and direction; the
// caller keeps the offset that Crop used.
func (l *LabelVolume) Paste(src *LabelVolume, at [3]int) error {
	if l == nil || src == nil {
		return fmt.Errorf("paste labels: %w: nil volume", ErrGeometry)
	}
	return pasteData("labels", l.Geometry, l.Labels, src.Geometry, src.Labels, at)
}

// Paste writes every voxel of src into f at offset at.
func (f *Float32Volume) Paste(src *Float32Volume, at [3]int) error {
	if f == nil || src == nil {
		return fmt.Errorf("paste float volume: %w: nil volume", ErrGeometry)
	}
	return pasteData("float volume", f.Geometry, f.Data, src.Geometry, src.Data, at)
}

// Paste writes every voxel of src into v at offset at.
func (v *Volume) Paste(src *Volume, at [3]int) error {
	if v == nil || src == nil {
		return fmt.Errorf("paste volume: %w: nil volume", ErrGeometry)
	}
	return pasteData("volume", v.Geometry, v.HU, src.Geometry, src.HU, at)
}

// BoundingBox returns the smallest box holding every non-zero voxel of l,
// and false when l has none.
func (l *LabelVolume) BoundingBox() (Box, bool) {
	if l == nil {
		return Box{}, false
	}
	return boundingBox(l.Geometry, l.Labels, func(v uint8) bool { return v != 0 })
}

// LabelBoundingBox returns the smallest box holding every voxel equal to
// label, and false when there is none.
func (l *LabelVolume) LabelBoundingBox(label uint8) (Box, bool) {
	if l == nil {
		return Box{}, false
	}
	return boundingBox(l.Geometry, l.Labels, func(v uint8) bool { return v == label })
}

func boundingBox(g Geometry, labels []uint8, in func(uint8) bool) (Box, bool) {
	nx, ny := g.Size[0], g.Size[1]
	if len(labels) != g.Len() || g.Len() == 0 {
		return Box{}, false
	}
	b := Box{Min: g.Size, Max: [3]int{-1, -1, -1}}
	i := 0
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < ny; y++ {
			row := labels[i : i+nx]
			i += nx
			first := -1
			for x, v := range row {
				if in(v) {
					first = x
					break
				}
			}
			if first < 0 {
				continue
			}
			last := first
			for x := nx - 1; x > first; x-- {
				if in(row[x]) {
					last = x
					break
				}
			}
			b.Min[0] = min(b.Min[0], first)
			b.Max[0] = max(b.Max[0], last)
			b.Min[1] = min(b.Min[1], y)
			b.Max[1] = max(b.Max[1], y)
			b.Min[2] = min(b.Min[2], z)
			b.Max[2] = max(b.Max[2], z)
		}
	}
	if b.Max[0] < 0 {
		return Box{}, false
	}
	for a := 0; a < 3; a++ {
		b.Max[a]++
	}
	return b, true
}

// CropFloat32 returns the HU of box b as a float volume with the cropped
// geometry, without an intermediate int16 copy.
func (v *Volume) CropFloat32(b Box) (*Float32Volume, error) {
	if v == nil {
		return nil, fmt.Errorf("crop volume: %w: nil volume", ErrGeometry)
	}
	g, err := v.Geometry.Crop(b)
	if err != nil {
		return nil, fmt.Errorf("crop volume: %w", err)
	}
	if len(v.HU) != v.Len() {
		return nil, fmt.Errorf("crop volume: %w: %d values for %d voxels", ErrGeometry, len(v.HU), v.Len())
	}
	out := &Float32Volume{Geometry: g, Data: make([]float32, g.Len())}
	n := b.Max[0] - b.Min[0]
	di := 0
	for z := b.Min[2]; z < b.Max[2]; z++ {
		for y := b.Min[1]; y < b.Max[1]; y++ {
			si := b.Min[0] + v.Size[0]*(y+v.Size[1]*z)
			for x, h := range v.HU[si : si+n] {
				out.Data[di+x] = float32(h)
			}
			di += n
		}
	}
	return out, nil
}
