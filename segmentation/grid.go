package segmentation

import (
	"math"

	"github.com/mhpnet/node/volume"
)

// grid is a float32 image on a regular grid aligned with a source volume's
// axes: voxel i of axis a has its centre at source continuous index
// off[a] + (i+0.5)*step[a] - 0.5, where step is the ratio of the grid spacing
// to the source spacing. It is the working representation of both stages
// (coarse liver grid, tumor grid over the liver box).
type grid struct {
	size    [3]int
	spacing [3]float64 // mm
	// off is the source index of the lower corner (voxel edge) of the box
	// this grid covers, step the number of source voxels per grid voxel.
	off  [3]float64
	step [3]float64
	data []float32
}

func (g *grid) len() int { return g.size[0] * g.size[1] * g.size[2] }

func (g *grid) index(x, y, z int) int { return x + g.size[0]*(y+g.size[1]*z) }

// box is a half-open voxel box [lo, hi) on some grid.
type box struct{ lo, hi [3]int }

func (b box) size() [3]int {
	return [3]int{b.hi[0] - b.lo[0], b.hi[1] - b.lo[1], b.hi[2] - b.lo[2]}
}

func (b box) empty() bool {
	return b.hi[0] <= b.lo[0] || b.hi[1] <= b.lo[1] || b.hi[2] <= b.lo[2]
}

// newGridLayout describes a grid of the given spacing covering the source
// box b of a volume with geometry src. It allocates the data.
func newGridLayout(src volume.Geometry, b box, spacingMM float64) *grid {
	g := &grid{}
	for a := 0; a < 3; a++ {
		sp := spacingMM
		if src.Spacing[a] > sp {
			// never upsample an axis: keep its native spacing
			sp = src.Spacing[a]
		}
		ext := float64(b.hi[a]-b.lo[a]) * src.Spacing[a]
		n := int(math.Ceil(ext/sp - 1e-6))
		if n < 1 {
			n = 1
		}
		g.size[a] = n
		g.spacing[a] = sp
		g.step[a] = sp / src.Spacing[a]
		g.off[a] = float64(b.lo[a])
	}
	g.data = make([]float32, g.len())
	return g
}

// downsampleHU fills a grid covering box b of v by box averaging (every
// source voxel contributes to the grid voxel containing its centre), which
// also averages out CT noise.
func downsampleHU(v *volume.Volume, b box, spacingMM float64) *grid {
	return downsampleHUMasked(v, b, spacingMM, nil, 0)
}

// downsampleHUMasked is downsampleHU with every source voxel outside mask
// (zero) read as fill instead of its HU; a nil mask reads every voxel.
func downsampleHUMasked(v *volume.Volume, b box, spacingMM float64, mask []uint8, fill float32) *grid {
	g := newGridLayout(v.Geometry, b, spacingMM)
	cnt := make([]float32, g.len())
	mapAxis := func(a int) []int {
		m := make([]int, b.hi[a]-b.lo[a])
		for i := range m {
			c := int((float64(i) + 0.5) / g.step[a])
			if c >= g.size[a] {
				c = g.size[a] - 1
			}
			m[i] = c
		}
		return m
	}
	mx, my, mz := mapAxis(0), mapAxis(1), mapAxis(2)
	nx, ny := v.Size[0], v.Size[1]
	for z := b.lo[2]; z < b.hi[2]; z++ {
		gz := mz[z-b.lo[2]]
		for y := b.lo[1]; y < b.hi[1]; y++ {
			gy := my[y-b.lo[1]]
			row := v.HU[nx*(y+ny*z):]
			base := g.size[0] * (gy + g.size[1]*gz)
			if mask == nil {
				for x := b.lo[0]; x < b.hi[0]; x++ {
					i := base + mx[x-b.lo[0]]
					g.data[i] += float32(row[x])
					cnt[i]++
				}
				continue
			}
			mrow := mask[nx*(y+ny*z):]
			for x := b.lo[0]; x < b.hi[0]; x++ {
				i := base + mx[x-b.lo[0]]
				if mrow[x] != 0 {
					g.data[i] += float32(row[x])
				} else {
					g.data[i] += fill
				}
				cnt[i]++
			}
		}
	}
	for i := range g.data {
		if cnt[i] > 0 {
			g.data[i] /= cnt[i]
		} else {
			g.data[i] = -1024
		}
	}
	return g
}

// downsampleLabels returns, on the layout of g, the fraction of source
// voxels whose label satisfies keep.
func downsampleLabels(l *volume.LabelVolume, b box, like *grid, keep func(uint8) bool) *grid {
	g := &grid{size: like.size, spacing: like.spacing, off: like.off, step: like.step, data: make([]float32, like.len())}
	cnt := make([]float32, g.len())
	mapAxis := func(a int) []int {
		m := make([]int, b.hi[a]-b.lo[a])
		for i := range m {
			c := int((float64(i) + 0.5) / g.step[a])
			if c >= g.size[a] {
				c = g.size[a] - 1
			}
			m[i] = c
		}
		return m
	}
	mx, my, mz := mapAxis(0), mapAxis(1), mapAxis(2)
	nx, ny := l.Size[0], l.Size[1]
	for z := b.lo[2]; z < b.hi[2]; z++ {
		gz := mz[z-b.lo[2]]
		for y := b.lo[1]; y < b.hi[1]; y++ {
			gy := my[y-b.lo[1]]
			row := l.Labels[nx*(y+ny*z):]
			base := g.size[0] * (gy + g.size[1]*gz)
			for x := b.lo[0]; x < b.hi[0]; x++ {
				i := base + mx[x-b.lo[0]]
				if keep(row[x]) {
					g.data[i]++
				}
				cnt[i]++
			}
		}
	}
	for i := range g.data {
		if cnt[i] > 0 {
			g.data[i] /= cnt[i]
		}
	}
	return g
}

// sample returns the trilinear interpolation of g at continuous grid
// coordinates (x, y, z) (voxel centres at integers), clamped to the grid.
func (g *grid) sample(x, y, z float64) float32 {
	clamp := func(v float64, n int) (int, int, float32) {
		if v <= 0 {
			return 0, 0, 0
		}
		if v >= float64(n-1) {
			return n - 1, n - 1, 0
		}
		i := int(v)
		return i, i + 1, float32(v - float64(i))
	}
	x0, x1, fx := clamp(x, g.size[0])
	y0, y1, fy := clamp(y, g.size[1])
	z0, z1, fz := clamp(z, g.size[2])
	d := g.data
	c00 := d[g.index(x0, y0, z0)]*(1-fx) + d[g.index(x1, y0, z0)]*fx
	c10 := d[g.index(x0, y1, z0)]*(1-fx) + d[g.index(x1, y1, z0)]*fx
	c01 := d[g.index(x0, y0, z1)]*(1-fx) + d[g.index(x1, y0, z1)]*fx
	c11 := d[g.index(x0, y1, z1)]*(1-fx) + d[g.index(x1, y1, z1)]*fx
	c0 := c00*(1-fy) + c10*fy
	c1 := c01*(1-fy) + c11*fy
	return c0*(1-fz) + c1*fz
}

// toGrid maps a source continuous index along axis a to grid coordinates.
func (g *grid) toGrid(a int, src float64) float64 {
	return (src-g.off[a]+0.5)/g.step[a] - 0.5
}

// upsampleThreshold writes, for every source voxel of box b (geometry src),
// whether the trilinear interpolation of g there is >= thr, into dst
// (a full-size source mask) as value val. Voxels where gate (a grid-sized
// mask, may be nil) is zero at the nearest grid voxel are skipped.
func (g *grid) upsampleThreshold(src volume.Geometry, b box, thr float32, dst []uint8, val uint8, gate []uint8) {
	type tap struct {
		i0, i1, near int
		f            float32
	}
	taps := func(a int) []tap {
		t := make([]tap, b.hi[a]-b.lo[a])
		n := g.size[a]
		for k := range t {
			v := g.toGrid(a, float64(k+b.lo[a]))
			switch {
			case v <= 0:
				t[k] = tap{0, 0, 0, 0}
			case v >= float64(n-1):
				t[k] = tap{n - 1, n - 1, n - 1, 0}
			default:
				i := int(v)
				t[k] = tap{i, i + 1, nearest(v, n), float32(v - float64(i))}
			}
		}
		return t
	}
	tx, ty, tz := taps(0), taps(1), taps(2)
	nx, ny := src.Size[0], src.Size[1]
	gx, gxy := g.size[0], g.size[0]*g.size[1]
	d := g.data
	for z := b.lo[2]; z < b.hi[2]; z++ {
		cz := tz[z-b.lo[2]]
		for y := b.lo[1]; y < b.hi[1]; y++ {
			cy := ty[y-b.lo[1]]
			row := dst[nx*(y+ny*z):]
			r00 := d[cy.i0*gx+cz.i0*gxy:]
			r10 := d[cy.i1*gx+cz.i0*gxy:]
			r01 := d[cy.i0*gx+cz.i1*gxy:]
			r11 := d[cy.i1*gx+cz.i1*gxy:]
			for x := b.lo[0]; x < b.hi[0]; x++ {
				cx := tx[x-b.lo[0]]
				if gate != nil && gate[cx.near+gx*cy.near+gxy*cz.near] == 0 {
					continue
				}
				a00, b00 := r00[cx.i0], r00[cx.i1]
				a10, b10 := r10[cx.i0], r10[cx.i1]
				a01, b01 := r01[cx.i0], r01[cx.i1]
				a11, b11 := r11[cx.i0], r11[cx.i1]
				if a00 < thr && b00 < thr && a10 < thr && b10 < thr && a01 < thr && b01 < thr && a11 < thr && b11 < thr {
					continue
				}
				c00 := a00 + (b00-a00)*cx.f
				c10 := a10 + (b10-a10)*cx.f
				c01 := a01 + (b01-a01)*cx.f
				c11 := a11 + (b11-a11)*cx.f
				c0 := c00 + (c10-c00)*cy.f
				c1 := c01 + (c11-c01)*cy.f
				if c0+(c1-c0)*cz.f >= thr {
					row[x] = val
				}
			}
		}
	}
}

func nearest(v float64, n int) int {
	i := int(math.Floor(v + 0.5))
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}
