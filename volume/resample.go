package volume

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Float32Volume is a real-valued image on a voxel grid: probability maps,
// filter responses, a CT converted for filtering.
type Float32Volume struct {
	Geometry
	// Data holds one value per voxel in x-fastest order.
	Data []float32
}

// NewFloat32Volume allocates a zero-filled float volume after validating g.
func NewFloat32Volume(g Geometry) (*Float32Volume, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &Float32Volume{Geometry: g, Data: make([]float32, g.Len())}, nil
}

// At returns the value of voxel (x, y, z).
func (f *Float32Volume) At(x, y, z int) float32 { return f.Data[f.Index(x, y, z)] }

// ToFloat32 converts the HU of v to a float volume on the same grid.
func (v *Volume) ToFloat32() (*Float32Volume, error) {
	if v == nil {
		return nil, fmt.Errorf("to float32: %w: nil volume", ErrGeometry)
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if len(v.HU) != v.Len() {
		return nil, fmt.Errorf("to float32: %w: %d values for %d voxels", ErrGeometry, len(v.HU), v.Len())
	}
	f := &Float32Volume{Geometry: v.Geometry, Data: make([]float32, len(v.HU))}
	for i, h := range v.HU {
		f.Data[i] = float32(h)
	}
	return f, nil
}

// Threshold returns a mask holding label where the value is >= t, 0
// elsewhere.
func (f *Float32Volume) Threshold(t float32, label uint8) *LabelVolume {
	l := &LabelVolume{Geometry: f.Geometry, Labels: make([]uint8, len(f.Data))}
	for i, v := range f.Data {
		if v >= t {
			l.Labels[i] = label
		}
	}
	return l
}

// ResampledGeometry returns the grid with the given spacing (mm) covering
// the same extent as g: same direction, Size[a] = round(Size[a]·Spacing[a] /
// spacing[a]) (at least 1), and the first voxel's outer face kept where g's
// was, so that voxel i of the new grid sits at continuous index
// (i+0.5)·spacing[a]/Spacing[a] − 0.5 of g.
func ResampledGeometry(g Geometry, spacing [3]float64) (Geometry, error) {
	if err := g.Validate(); err != nil {
		return Geometry{}, err
	}
	r := g
	r.Spacing = spacing
	var shift [3]float64
	for a := 0; a < 3; a++ {
		if !(spacing[a] > 0) || math.IsInf(spacing[a], 0) {
			return Geometry{}, fmt.Errorf("%w: target spacing %v must be positive and finite", ErrGeometry, spacing)
		}
		n := math.Round(float64(g.Size[a]) * g.Spacing[a] / spacing[a])
		if n > MaxVoxels {
			return Geometry{}, fmt.Errorf("%w: spacing %v would give %g voxels along axis %d", ErrGeometry, spacing, n, a)
		}
		r.Size[a] = max(1, int(n))
		shift[a] = (spacing[a]/g.Spacing[a] - 1) / 2
	}
	r.Origin = g.VoxelToPatient(shift)
	if err := r.Validate(); err != nil {
		return Geometry{}, err
	}
	return r, nil
}

// axisMaps returns, for each axis, the affine map src = scale·i + offset
// from a voxel index of dst to a continuous voxel index of src. Both grids
// must share their direction cosines.
func axisMaps(src, dst Geometry) (scale, offset [3]float64, err error) {
	if err := src.Validate(); err != nil {
		return scale, offset, err
	}
	if err := dst.Validate(); err != nil {
		return scale, offset, err
	}
	for a := 0; a < 3; a++ {
		for c := 0; c < 3; c++ {
			if math.Abs(src.Direction[a][c]-dst.Direction[a][c]) > 1e-6 {
				return scale, offset, fmt.Errorf("%w: resampling needs equal directions, got %v and %v", ErrGeometry, src.Direction, dst.Direction)
			}
		}
	}
	o := src.PatientToVoxel(dst.Origin)
	for a := 0; a < 3; a++ {
		scale[a] = dst.Spacing[a] / src.Spacing[a]
		offset[a] = o[a]
	}
	return scale, offset, nil
}

// taps holds, for each output index along one axis, the input indices
// (first, count) and their weights.
type taps struct {
	first []int
	n     int // weights per output (fixed width, zero-padded)
	w     []float32
}

// tentTaps computes interpolation weights for m outputs at src positions
// scale·i + offset over n inputs (replicated at the edges). Without
// antialiasing (or when scale <= 1) the kernel is the linear tent. With
// antialias and scale > 1 each output is the mean of the piecewise-linear
// interpolant over the output voxel's footprint [p − scale/2, p + scale/2]
// (a box of the output's width convolved with the tent): a true box
// average, whose weights still sum to 1 and reproduce linear fields.
func tentTaps(m, n int, scale, offset float64, antialias bool) taps {
	half := 0.0
	if antialias && scale > 1 {
		half = scale / 2
	}
	width := int(math.Ceil(2*half+2)) + 1
	t := taps{first: make([]int, m), n: width, w: make([]float32, m*width)}
	ws := make([]float64, width)
	for i := 0; i < m; i++ {
		p := scale*float64(i) + offset
		lo := int(math.Floor(p-half-1)) + 1
		sum := 0.0
		for k := 0; k < width; k++ {
			j := float64(lo + k)
			var w float64
			if half == 0 {
				w = max(0, 1-math.Abs(j-p))
			} else {
				w = (tentPrimitive(p+half-j) - tentPrimitive(p-half-j)) / (2 * half)
			}
			ws[k] = w
			sum += w
		}
		// Clamp indices to the grid, folding weights onto the edge voxel,
		// and store them as a run starting at first.
		first := min(max(lo, 0), n-1)
		row := t.w[i*width : (i+1)*width]
		for k := 0; k < width; k++ {
			j := min(max(lo+k, 0), n-1)
			row[j-first] += float32(ws[k] / sum)
		}
		t.first[i] = first
	}
	return t
}

// tentPrimitive is the integral of the unit tent max(0, 1−|t|) from −∞ to u.
func tentPrimitive(u float64) float64 {
	switch {
	case u <= -1:
		return 0
	case u <= 0:
		return (u + 1) * (u + 1) / 2
	case u < 1:
		return 1 - (1-u)*(1-u)/2
	}
	return 1
}

// parallel runs fn over [0, n) split into contiguous chunks, one goroutine
// per core.
func parallel(n int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// resampleAxis resamples in (size s) along axis ax to m samples with the
// given taps, returning the new buffer and size.
func resampleAxis(in []float32, s [3]int, ax, m int, t taps) ([]float32, [3]int) {
	o := s
	o[ax] = m
	out := make([]float32, o[0]*o[1]*o[2])
	nIn := s[ax]
	switch ax {
	case 0:
		rows := s[1] * s[2]
		parallel(rows, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				src := in[r*s[0] : (r+1)*s[0]]
				dst := out[r*m : (r+1)*m]
				for i := range dst {
					f := t.first[i]
					w := t.w[i*t.n : (i+1)*t.n]
					var acc float32
					for k, wk := range w {
						if f+k >= nIn {
							break
						}
						acc += wk * src[f+k]
					}
					dst[i] = acc
				}
			}
		})
	default:
		// Rows (ax=1) or planes (ax=2) combined with axpy over contiguous runs.
		run := s[0]
		if ax == 2 {
			run = s[0] * s[1]
		}
		outer := 1
		if ax == 1 {
			outer = s[2]
		}
		parallel(outer*m, func(lo, hi int) {
			for q := lo; q < hi; q++ {
				z, i := q/m, q%m
				dst := out[(z*m+i)*run : (z*m+i+1)*run]
				f := t.first[i]
				w := t.w[i*t.n : (i+1)*t.n]
				for k, wk := range w {
					if wk == 0 || f+k >= nIn {
						continue
					}
					src := in[(z*nIn+f+k)*run : (z*nIn+f+k+1)*run]
					for x := range dst {
						dst[x] += wk * src[x]
					}
				}
			}
		})
	}
	return out, o
}

// resampleFloat resamples data on grid src onto grid dst with separable
// linear interpolation (antialiased when dst is coarser and antialias set).
func resampleFloat(data []float32, src, dst Geometry, antialias bool) ([]float32, error) {
	scale, offset, err := axisMaps(src, dst)
	if err != nil {
		return nil, err
	}
	if len(data) != src.Len() {
		return nil, fmt.Errorf("resample: %w: %d values for %d voxels", ErrGeometry, len(data), src.Len())
	}
	// Order axes so the most reducing pass runs first and later passes
	// touch fewer voxels.
	order := [3]int{0, 1, 2}
	for i := 0; i < 3; i++ {
		for j := i + 1; j < 3; j++ {
			ri := float64(dst.Size[order[i]]) / float64(src.Size[order[i]])
			rj := float64(dst.Size[order[j]]) / float64(src.Size[order[j]])
			if rj < ri {
				order[i], order[j] = order[j], order[i]
			}
		}
	}
	cur, s := data, src.Size
	for _, ax := range order {
		t := tentTaps(dst.Size[ax], src.Size[ax], scale[ax], offset[ax], antialias)
		cur, s = resampleAxis(cur, s, ax, dst.Size[ax], t)
	}
	if &cur[0] == &data[0] {
		cur = append([]float32(nil), cur...)
	}
	return cur, nil
}

// Resample returns v on the grid with the given spacing (see
// ResampledGeometry), interpolated trilinearly; when an axis is
// downsampled the tent kernel is widened to the output voxel's footprint
// (antialiasing), so thin structures are averaged rather than aliased.
func (v *Volume) Resample(spacing [3]float64) (*Float32Volume, error) {
	if v == nil {
		return nil, fmt.Errorf("resample volume: %w: nil volume", ErrGeometry)
	}
	dst, err := ResampledGeometry(v.Geometry, spacing)
	if err != nil {
		return nil, fmt.Errorf("resample volume: %w", err)
	}
	f, err := v.ToFloat32()
	if err != nil {
		return nil, fmt.Errorf("resample volume: %w", err)
	}
	return f.ResampleTo(dst, true)
}

// ResampleTo returns f interpolated trilinearly onto grid dst, which must
// share f's direction cosines (its origin, spacing and size are free:
// e.g. a coarse probability map brought back onto the original grid, or
// onto a crop of it). Points outside f take the nearest edge value. With
// antialias, axes where dst is coarser are box-averaged over each output
// voxel's footprint.
func (f *Float32Volume) ResampleTo(dst Geometry, antialias bool) (*Float32Volume, error) {
	if f == nil {
		return nil, fmt.Errorf("resample float volume: %w: nil volume", ErrGeometry)
	}
	data, err := resampleFloat(f.Data, f.Geometry, dst, antialias)
	if err != nil {
		return nil, fmt.Errorf("resample float volume: %w", err)
	}
	return &Float32Volume{Geometry: dst, Data: data}, nil
}

// ResampleTo returns l on grid dst by nearest-neighbour lookup; dst must
// share l's direction cosines. Points outside l take the nearest edge
// voxel's label.
func (l *LabelVolume) ResampleTo(dst Geometry) (*LabelVolume, error) {
	if l == nil {
		return nil, fmt.Errorf("resample labels: %w: nil volume", ErrGeometry)
	}
	scale, offset, err := axisMaps(l.Geometry, dst)
	if err != nil {
		return nil, fmt.Errorf("resample labels: %w", err)
	}
	if len(l.Labels) != l.Len() {
		return nil, fmt.Errorf("resample labels: %w: %d values for %d voxels", ErrGeometry, len(l.Labels), l.Len())
	}
	var idx [3][]int
	for a := 0; a < 3; a++ {
		idx[a] = make([]int, dst.Size[a])
		for i := range idx[a] {
			// Round half away from the lower index consistently: floor(p+0.5).
			p := math.Floor(scale[a]*float64(i) + offset[a] + 0.5)
			idx[a][i] = int(min(max(p, 0), float64(l.Size[a]-1)))
		}
	}
	out := &LabelVolume{Geometry: dst, Labels: make([]uint8, dst.Len())}
	nx, ny := dst.Size[0], dst.Size[1]
	sx, sy := l.Size[0], l.Size[1]
	parallel(dst.Size[2]*ny, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			z, y := r/ny, r%ny
			src := l.Labels[sx*(idx[1][y]+sy*idx[2][z]):]
			dstRow := out.Labels[r*nx : (r+1)*nx]
			for x, ix := range idx[0] {
				dstRow[x] = src[ix]
			}
		}
	})
	return out, nil
}

// Resample returns l on the grid with the given spacing (see
// ResampledGeometry) by nearest-neighbour lookup.
func (l *LabelVolume) Resample(spacing [3]float64) (*LabelVolume, error) {
	if l == nil {
		return nil, fmt.Errorf("resample labels: %w: nil volume", ErrGeometry)
	}
	dst, err := ResampledGeometry(l.Geometry, spacing)
	if err != nil {
		return nil, fmt.Errorf("resample labels: %w", err)
	}
	return l.ResampleTo(dst)
}
