package volume

import (
	"fmt"
	"math"
)

// Select returns a mask holding 1 where l equals label and 0 elsewhere.
func (l *LabelVolume) Select(label uint8) *LabelVolume {
	out := &LabelVolume{Geometry: l.Geometry, Labels: make([]uint8, len(l.Labels))}
	for i, v := range l.Labels {
		if v == label {
			out.Labels[i] = 1
		}
	}
	return out
}

// Binary returns a mask holding 1 where l is non-zero and 0 elsewhere.
func (l *LabelVolume) Binary() *LabelVolume {
	out := &LabelVolume{Geometry: l.Geometry, Labels: make([]uint8, len(l.Labels))}
	for i, v := range l.Labels {
		if v != 0 {
			out.Labels[i] = 1
		}
	}
	return out
}

func checkLabels(op string, l *LabelVolume) error {
	if l == nil {
		return fmt.Errorf("%s: %w: nil label volume", op, ErrGeometry)
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if len(l.Labels) != l.Len() {
		return fmt.Errorf("%s: %w: %d values for %d voxels", op, ErrGeometry, len(l.Labels), l.Len())
	}
	return nil
}

// FillHoles returns a copy of mask where every background voxel that is
// not 6-connected to the grid's border (a cavity enclosed in 3D) is set to
// value. Voxels already non-zero keep their labels. The flood runs inside
// the mask's bounding box plus one voxel only: background beyond it is
// connected to the border anyway.
func FillHoles(mask *LabelVolume, value uint8) (*LabelVolume, error) {
	if err := checkLabels("fill holes", mask); err != nil {
		return nil, err
	}
	out := &LabelVolume{Geometry: mask.Geometry, Labels: append([]uint8(nil), mask.Labels...)}
	bb, ok := mask.BoundingBox()
	if !ok {
		return out, nil
	}
	box := bb.Expand(mask.Geometry, [3]int{1, 1, 1})
	bs := box.Size()
	// A padded working copy: 1 foreground, 2 outside (padding and the
	// background reached from the box's faces), 0 not reached yet. The
	// padding stops the flood without bounds checks.
	W, H, D := bs[0]+2, bs[1]+2, bs[2]+2
	st := make([]uint8, W*H*D)
	for i := range st {
		st[i] = 2
	}
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := mask.Labels[mask.Index(box.Min[0], box.Min[1]+y, box.Min[2]+z):][:bs[0]]
			dst := st[1+W*((y+1)+H*(z+1)):][:bs[0]]
			for x, v := range src {
				if v != 0 {
					dst[x] = 1
				} else {
					dst[x] = 0
				}
			}
		}
	}
	var q []int32
	seed := func(x, y, z int) {
		i := x + W*(y+H*z)
		if st[i] == 0 {
			st[i] = 2
			q = append(q, int32(i))
		}
	}
	for z := 1; z <= bs[2]; z++ {
		for y := 1; y <= bs[1]; y++ {
			if z == 1 || z == bs[2] || y == 1 || y == bs[1] {
				for x := 1; x <= bs[0]; x++ {
					seed(x, y, z)
				}
			} else {
				seed(1, y, z)
				seed(bs[0], y, z)
			}
		}
	}
	// Scanline flood: each popped seed fills its whole x-run, then seeds
	// one voxel per unreached run on the four neighbouring rows, which
	// keeps the stack near the size of the front instead of the volume.
	rows := [4]int{-W, W, -W * H, W * H}
	for len(q) > 0 {
		i := int(q[len(q)-1])
		q = q[:len(q)-1]
		// The seed is already marked; extend its run both ways.
		lo, hi := i, i
		for st[lo-1] == 0 {
			lo--
			st[lo] = 2
		}
		for st[hi+1] == 0 {
			hi++
			st[hi] = 2
		}
		for _, r := range rows {
			inRun := false
			for j := lo + r; j <= hi+r; j++ {
				if st[j] != 0 {
					inRun = false
				} else if !inRun {
					st[j] = 2
					q = append(q, int32(j))
					inRun = true
				}
			}
		}
	}
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := st[1+W*((y+1)+H*(z+1)):][:bs[0]]
			dst := out.Labels[mask.Index(box.Min[0], box.Min[1]+y, box.Min[2]+z):][:bs[0]]
			for x, v := range src {
				if v == 0 {
					dst[x] = value
				}
			}
		}
	}
	return out, nil
}

// FillHolesSlices returns a copy of mask where, on each axial slice
// (constant z), every background pixel not 4-connected to the slice's
// border is set to value. It fills holes a 3D fill misses because they open
// to the outside through another slice (tumors inside liver parenchyma).
func FillHolesSlices(mask *LabelVolume, value uint8) (*LabelVolume, error) {
	if err := checkLabels("fill holes per slice", mask); err != nil {
		return nil, err
	}
	nx, ny, nz := mask.Size[0], mask.Size[1], mask.Size[2]
	out := &LabelVolume{Geometry: mask.Geometry, Labels: append([]uint8(nil), mask.Labels...)}
	plane := nx * ny
	parallel(nz, func(lo, hi int) {
		outside := make([]bool, plane)
		var q []int32
		for z := lo; z < hi; z++ {
			sl := out.Labels[z*plane : (z+1)*plane]
			clear(outside)
			q = q[:0]
			push := func(i int) {
				if sl[i] == 0 && !outside[i] {
					outside[i] = true
					q = append(q, int32(i))
				}
			}
			for x := 0; x < nx; x++ {
				push(x)
				push(x + nx*(ny-1))
			}
			for y := 0; y < ny; y++ {
				push(nx * y)
				push(nx - 1 + nx*y)
			}
			for h := 0; h < len(q); h++ {
				i := int(q[h])
				x, y := i%nx, i/nx
				if x > 0 {
					push(i - 1)
				}
				if x < nx-1 {
					push(i + 1)
				}
				if y > 0 {
					push(i - nx)
				}
				if y < ny-1 {
					push(i + nx)
				}
			}
			for i, o := range outside {
				if !o && sl[i] == 0 {
					sl[i] = value
				}
			}
		}
	})
	return out, nil
}

// DistanceTransform returns, for every voxel of mask, the Euclidean
// distance in millimetres (anisotropic spacing honoured) to the nearest
// non-zero voxel: 0 on the mask, +Inf everywhere when the mask is empty.
// It is exact (Felzenszwalb–Huttenlocher lower envelopes, one pass per
// axis, O(N)).
func DistanceTransform(mask *LabelVolume) (*Float32Volume, error) {
	if err := checkLabels("distance transform", mask); err != nil {
		return nil, err
	}
	d := squaredEDT(mask.Geometry, mask.Labels, false)
	for i, v := range d {
		d[i] = float32(math.Sqrt(float64(v)))
	}
	return &Float32Volume{Geometry: mask.Geometry, Data: d}, nil
}

// squaredEDT returns the squared distance (mm²) from each voxel to the
// nearest voxel whose label is non-zero (or zero, when invert is set).
func squaredEDT(g Geometry, labels []uint8, invert bool) []float32 {
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	inf := float32(math.Inf(1))
	d := make([]float32, len(labels))
	sx := float32(g.Spacing[0])
	// Pass 1 along x: distance to the nearest feature in the same row.
	parallel(ny*nz, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := labels[r*nx : (r+1)*nx]
			out := d[r*nx : (r+1)*nx]
			last := -1
			for x := 0; x < nx; x++ {
				if (row[x] != 0) != invert {
					last = x
					out[x] = 0
				} else if last >= 0 {
					out[x] = float32(x-last) * sx
				} else {
					out[x] = inf
				}
			}
			last = -1
			for x := nx - 1; x >= 0; x-- {
				if (row[x] != 0) != invert {
					last = x
				} else if last >= 0 {
					if v := float32(last-x) * sx; v < out[x] {
						out[x] = v
					}
				}
			}
			for x := range out {
				out[x] *= out[x]
			}
		}
	})
	// Pass 2 along y, pass 3 along z: lower envelope of parabolas.
	for _, ax := range []int{1, 2} {
		n := g.Size[ax]
		if n == 1 {
			continue
		}
		stride := nx
		lines := nx * nz // (x, z) pairs for ax = 1
		if ax == 2 {
			stride = nx * ny
			lines = nx * ny
		}
		s := g.Spacing[ax]
		parallel(lines, func(lo, hi int) {
			f := make([]float64, n)
			out := make([]float64, n)
			v := make([]int, n)
			zb := make([]float64, n+1)
			for ln := lo; ln < hi; ln++ {
				var base int
				if ax == 1 {
					x, z := ln%nx, ln/nx
					base = x + nx*ny*z
				} else {
					base = ln
				}
				for k := 0; k < n; k++ {
					f[k] = float64(d[base+k*stride])
				}
				if envelope(f, out, v, zb, s) {
					for k := 0; k < n; k++ {
						d[base+k*stride] = float32(out[k])
					}
				}
			}
		})
	}
	return d
}

// envelope computes out[p] = min_q f[q] + ((p−q)·s)² over the finite f[q]
// (the 1D squared distance transform of Felzenszwalb and Huttenlocher,
// "Distance Transforms of Sampled Functions", 2012). It returns false when
// every f is infinite (out is then left alone).
func envelope(f, out []float64, v []int, z []float64, s float64) bool {
	n := len(f)
	k := -1
	s2 := s * s
	for q := 0; q < n; q++ {
		if math.IsInf(f[q], 1) {
			continue
		}
		fq := f[q] + float64(q*q)*s2
		for k >= 0 {
			p := v[k]
			x := (fq - (f[p] + float64(p*p)*s2)) / (2 * s2 * float64(q-p))
			if x <= z[k] {
				k--
				continue
			}
			k++
			v[k] = q
			z[k] = x
			z[k+1] = math.Inf(1)
			break
		}
		if k < 0 {
			k = 0
			v[0] = q
			z[0] = math.Inf(-1)
			z[1] = math.Inf(1)
		}
	}
	if k < 0 {
		return false
	}
	j := 0
	for p := 0; p < n; p++ {
		for z[j+1] < float64(p) {
			j++
		}
		dq := float64(p-v[j]) * s
		out[p] = dq*dq + f[v[j]]
	}
	return true
}

// DilateMM returns the mask of voxels within radiusMM millimetres
// (Euclidean, anisotropic spacing honoured) of a non-zero voxel of mask,
// as 0/1. A non-positive radius returns the binary mask unchanged.
func DilateMM(mask *LabelVolume, radiusMM float64) (*LabelVolume, error) {
	if err := checkLabels("dilate", mask); err != nil {
		return nil, err
	}
	if !(radiusMM > 0) || math.IsInf(radiusMM, 0) {
		return mask.Binary(), nil
	}
	out := &LabelVolume{Geometry: mask.Geometry, Labels: make([]uint8, len(mask.Labels))}
	bb, ok := mask.BoundingBox()
	if !ok {
		return out, nil
	}
	box := bb.Expand(mask.Geometry, MarginVoxels(mask.Geometry, radiusMM))
	crop, err := mask.Crop(box)
	if err != nil {
		return nil, fmt.Errorf("dilate: %w", err)
	}
	d := squaredEDT(crop.Geometry, crop.Labels, false)
	r2 := float32(radiusMM*radiusMM) * (1 + 1e-6)
	for i, v := range d {
		if v <= r2 {
			crop.Labels[i] = 1
		} else {
			crop.Labels[i] = 0
		}
	}
	if err := out.Paste(crop, box.Min); err != nil {
		return nil, fmt.Errorf("dilate: %w", err)
	}
	return out, nil
}

// ErodeMM returns the mask of non-zero voxels of mask lying more than
// radiusMM millimetres from every zero voxel, as 0/1 (the erosion by a
// ball). Voxels beyond the grid do not count as background, so a mask
// touching the border is not eroded from there. A non-positive radius
// returns the binary mask unchanged.
func ErodeMM(mask *LabelVolume, radiusMM float64) (*LabelVolume, error) {
	if err := checkLabels("erode", mask); err != nil {
		return nil, err
	}
	if !(radiusMM > 0) || math.IsInf(radiusMM, 0) {
		return mask.Binary(), nil
	}
	out := &LabelVolume{Geometry: mask.Geometry, Labels: make([]uint8, len(mask.Labels))}
	bb, ok := mask.BoundingBox()
	if !ok {
		return out, nil
	}
	// The nearest background of any mask voxel lies within one voxel of
	// the mask's bounding box.
	box := bb.Expand(mask.Geometry, [3]int{1, 1, 1})
	crop, err := mask.Crop(box)
	if err != nil {
		return nil, fmt.Errorf("erode: %w", err)
	}
	d := squaredEDT(crop.Geometry, crop.Labels, true)
	r2 := float32(radiusMM*radiusMM) * (1 + 1e-6)
	for i, v := range d {
		if crop.Labels[i] != 0 && v > r2 {
			crop.Labels[i] = 1
		} else {
			crop.Labels[i] = 0
		}
	}
	if err := out.Paste(crop, box.Min); err != nil {
		return nil, fmt.Errorf("erode: %w", err)
	}
	return out, nil
}

// CloseMM returns the morphological closing (dilation then erosion) of
// mask by a ball of radiusMM millimetres, as 0/1: it bridges gaps and
// fills dents narrower than the ball.
func CloseMM(mask *LabelVolume, radiusMM float64) (*LabelVolume, error) {
	d, err := DilateMM(mask, radiusMM)
	if err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	return ErodeMM(d, radiusMM)
}

// OpenMM returns the morphological opening (erosion then dilation) of
// mask by a ball of radiusMM millimetres, as 0/1: it removes protrusions
// and bridges thinner than the ball.
func OpenMM(mask *LabelVolume, radiusMM float64) (*LabelVolume, error) {
	e, err := ErodeMM(mask, radiusMM)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return DilateMM(e, radiusMM)
}
