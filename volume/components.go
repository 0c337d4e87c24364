package volume

import (
	"errors"
	"fmt"
	"math"
)

// ErrConnectivity is returned for a connectivity other than 6 or 26.
var ErrConnectivity = errors.New("volume: connectivity must be 6 or 26")

// Connectivity says which voxels touch: Conn6 shares a face, Conn26 a face,
// an edge or a corner.
type Connectivity int

// The two connectivities components are labelled with.
const (
	Conn6  Connectivity = 6
	Conn26 Connectivity = 26
)

// Component describes one connected component of a mask.
type Component struct {
	// Voxels is the component's voxel count.
	Voxels int
	// Box is the component's bounding box.
	Box Box
}

// Components is a connected-component labelling: Labels holds 0 for
// background and k (1-based) for voxels of Components[k-1]. Components are
// numbered in scan order of their first voxel (x fastest, then y, then z).
type Components struct {
	Geometry
	Labels     []int32
	Components []Component
}

// Largest returns the 1-based label of the largest component (the first
// in scan order on ties), or 0 when there is none.
func (c *Components) Largest() int32 {
	best, bestN := int32(0), 0
	for k, comp := range c.Components {
		if comp.Voxels > bestN {
			best, bestN = int32(k+1), comp.Voxels
		}
	}
	return best
}

// neighbourOffsets lists the already-visited neighbours (in raster order)
// of a voxel as (dx, dy, dz).
func neighbourOffsets(conn Connectivity) ([][3]int, error) {
	switch conn {
	case Conn6:
		return [][3]int{{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}}, nil
	case Conn26:
		var o [][3]int
		for dz := -1; dz <= 0; dz++ {
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if dz == 0 && (dy > 0 || (dy == 0 && dx >= 0)) {
						continue
					}
					o = append(o, [3]int{dx, dy, dz})
				}
			}
		}
		return o, nil
	}
	return nil, fmt.Errorf("%w: got %d", ErrConnectivity, conn)
}

func find(parent []int32, a int32) int32 {
	for parent[a] != a {
		parent[a] = parent[parent[a]]
		a = parent[a]
	}
	return a
}

// LabelComponents labels the connected components of the non-zero voxels
// of mask with two raster passes and a union-find over provisional labels
// (O(N), one int32 per voxel).
func LabelComponents(mask *LabelVolume, conn Connectivity) (*Components, error) {
	offs, err := neighbourOffsets(conn)
	if err != nil {
		return nil, err
	}
	if err := checkLabels("label components", mask); err != nil {
		return nil, err
	}
	nx, ny, nz := mask.Size[0], mask.Size[1], mask.Size[2]
	lab := make([]int32, mask.Len())
	parent := []int32{0}
	type nb struct {
		off        int
		dx, dy, dz int
	}
	nbs := make([]nb, len(offs))
	for k, o := range offs {
		nbs[k] = nb{off: o[0] + nx*(o[1]+ny*o[2]), dx: o[0], dy: o[1], dz: o[2]}
	}
	i := 0
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				if mask.Labels[i] == 0 {
					i++
					continue
				}
				var cur int32
				for _, n := range nbs {
					if (n.dx < 0 && x == 0) || (n.dx > 0 && x == nx-1) || (n.dy < 0 && y == 0) || (n.dy > 0 && y == ny-1) || (n.dz < 0 && z == 0) {
						continue
					}
					l := lab[i+n.off]
					if l == 0 {
						continue
					}
					if cur == 0 {
						cur = l
						continue
					}
					if l != cur {
						ra, rb := find(parent, cur), find(parent, l)
						if ra != rb {
							if ra < rb {
								parent[rb] = ra
							} else {
								parent[ra] = rb
							}
						}
					}
				}
				if cur == 0 {
					if len(parent) >= math.MaxInt32 {
						return nil, fmt.Errorf("label components: %w: too many provisional labels", ErrGeometry)
					}
					cur = int32(len(parent))
					parent = append(parent, cur)
				}
				lab[i] = cur
				i++
			}
		}
	}
	// Resolve roots to consecutive final labels in order of first voxel.
	final := make([]int32, len(parent))
	var comps []Component
	for p := 1; p < len(parent); p++ {
		r := find(parent, int32(p))
		if final[r] == 0 {
			comps = append(comps, Component{Box: Box{Min: mask.Size, Max: [3]int{-1, -1, -1}}})
			final[r] = int32(len(comps))
		}
		final[p] = final[r]
	}
	i = 0
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				if l := lab[i]; l != 0 {
					f := final[l]
					lab[i] = f
					c := &comps[f-1]
					c.Voxels++
					b := &c.Box
					if x < b.Min[0] {
						b.Min[0] = x
					}
					if x > b.Max[0] {
						b.Max[0] = x
					}
					if y < b.Min[1] {
						b.Min[1] = y
					}
					if y > b.Max[1] {
						b.Max[1] = y
					}
					if z < b.Min[2] {
						b.Min[2] = z
					}
					if z > b.Max[2] {
						b.Max[2] = z
					}
				}
				i++
			}
		}
	}
	for k := range comps {
		for a := 0; a < 3; a++ {
			comps[k].Box.Max[a]++
		}
	}
	return &Components{Geometry: mask.Geometry, Labels: lab, Components: comps}, nil
}

// keepComponents returns a copy of mask where only voxels of components
// with keep[k] (k 1-based) are kept, with their original label values.
func keepComponents(mask *LabelVolume, c *Components, keep []bool) *LabelVolume {
	out := &LabelVolume{Geometry: mask.Geometry, Labels: make([]uint8, len(mask.Labels))}
	for i, l := range c.Labels {
		if l != 0 && keep[l] {
			out.Labels[i] = mask.Labels[i]
		}
	}
	return out
}

// inBox runs fn on the crop of mask to its non-zero bounding box (so the
// int32 component labels cover the mask's extent, not the whole grid) and
// pastes the result into an otherwise empty copy of the grid.
func inBox(op string, mask *LabelVolume, fn func(*LabelVolume) (*LabelVolume, error)) (*LabelVolume, error) {
	if err := checkLabels(op, mask); err != nil {
		return nil, err
	}
	out := &LabelVolume{Geometry: mask.Geometry, Labels: make([]uint8, len(mask.Labels))}
	bb, ok := mask.BoundingBox()
	if !ok {
		return out, nil
	}
	crop, err := mask.Crop(bb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	r, err := fn(crop)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := out.Paste(r, bb.Min); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// KeepLargestComponent returns a copy of mask holding only its largest
// connected component of non-zero voxels (label values kept); an empty
// mask gives an empty copy.
func KeepLargestComponent(mask *LabelVolume, conn Connectivity) (*LabelVolume, error) {
	return inBox("keep largest component", mask, func(m *LabelVolume) (*LabelVolume, error) {
		c, err := LabelComponents(m, conn)
		if err != nil {
			return nil, err
		}
		keep := make([]bool, len(c.Components)+1)
		keep[c.Largest()] = true
		keep[0] = false
		return keepComponents(m, c, keep), nil
	})
}

// RemoveSmallComponents returns a copy of mask without the connected
// components of fewer than minVoxels voxels, and how many it removed.
func RemoveSmallComponents(mask *LabelVolume, conn Connectivity, minVoxels int) (*LabelVolume, int, error) {
	removed := 0
	out, err := inBox("remove small components", mask, func(m *LabelVolume) (*LabelVolume, error) {
		c, err := LabelComponents(m, conn)
		if err != nil {
			return nil, err
		}
		keep := make([]bool, len(c.Components)+1)
		for k, comp := range c.Components {
			keep[k+1] = comp.Voxels >= minVoxels
			if !keep[k+1] {
				removed++
			}
		}
		return keepComponents(m, c, keep), nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, removed, nil
}

// VoxelsForML returns the number of voxels of g that make up at least ml
// millilitres (rounded up), for minimum-size thresholds given in mL.
func (g Geometry) VoxelsForML(ml float64) int {
	v := g.VoxelVolumeML()
	if !(ml > 0) || !(v > 0) {
		return 0
	}
	n := math.Ceil(ml/v - 1e-9)
	if n > MaxVoxels {
		return MaxVoxels
	}
	return int(n)
}
