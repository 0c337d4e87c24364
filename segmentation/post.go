package segmentation

// Binary-mask helpers on small working grids (the coarse liver grid and the
// tumor grid over the liver box). Full-resolution label volumes go through
// the volume package; these work on the stage grids in place, where the
// pipeline needs exact control of connectivity and order.

// components labels the 6-connected components of the nonzero voxels of m
// (size sz). It returns the label per voxel (0 background, 1..n) and the
// voxel count of each label (index 0 unused).
func components(m []uint8, sz [3]int) ([]int32, []int) {
	lab := make([]int32, len(m))
	sizes := []int{0}
	nx, ny, nz := sz[0], sz[1], sz[2]
	plane := nx * ny
	stack := make([]int32, 0, 1<<16)
	for start, v := range m {
		if v == 0 || lab[start] != 0 {
			continue
		}
		id := int32(len(sizes))
		lab[start] = id
		stack = append(stack[:0], int32(start))
		n := 0
		for len(stack) > 0 {
			i := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			n++
			x := i % nx
			y := (i / nx) % ny
			z := i / plane
			if x > 0 && m[i-1] != 0 && lab[i-1] == 0 {
				lab[i-1] = id
				stack = append(stack, int32(i-1))
			}
			if x < nx-1 && m[i+1] != 0 && lab[i+1] == 0 {
				lab[i+1] = id
				stack = append(stack, int32(i+1))
			}
			if y > 0 && m[i-nx] != 0 && lab[i-nx] == 0 {
				lab[i-nx] = id
				stack = append(stack, int32(i-nx))
			}
			if y < ny-1 && m[i+nx] != 0 && lab[i+nx] == 0 {
				lab[i+nx] = id
				stack = append(stack, int32(i+nx))
			}
			if z > 0 && m[i-plane] != 0 && lab[i-plane] == 0 {
				lab[i-plane] = id
				stack = append(stack, int32(i-plane))
			}
			if z < nz-1 && m[i+plane] != 0 && lab[i+plane] == 0 {
				lab[i+plane] = id
				stack = append(stack, int32(i+plane))
			}
		}
		sizes = append(sizes, n)
	}
	return lab, sizes
}

// erode6 returns m eroded by the 6-neighbourhood (voxels at the grid edge
// count their outside neighbours as background).
func erode6(m []uint8, sz [3]int) []uint8 {
	out := make([]uint8, len(m))
	nx, ny, nz := sz[0], sz[1], sz[2]
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				i := x + nx*(y+ny*z)
				if m[i] == 0 || x == 0 || y == 0 || z == 0 || x == nx-1 || y == ny-1 || z == nz-1 {
					continue
				}
				if m[i-1] != 0 && m[i+1] != 0 && m[i-nx] != 0 && m[i+nx] != 0 && m[i-nx*ny] != 0 && m[i+nx*ny] != 0 {
					out[i] = 1
				}
			}
		}
	}
	return out
}

// dilate6 returns m dilated by the 6-neighbourhood.
func dilate6(m []uint8, sz [3]int) []uint8 {
	out := make([]uint8, len(m))
	nx, ny, nz := sz[0], sz[1], sz[2]
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				i := x + nx*(y+ny*z)
				if m[i] == 0 {
					continue
				}
				out[i] = 1
				if x > 0 {
					out[i-1] = 1
				}
				if x < nx-1 {
					out[i+1] = 1
				}
				if y > 0 {
					out[i-nx] = 1
				}
				if y < ny-1 {
					out[i+nx] = 1
				}
				if z > 0 {
					out[i-nx*ny] = 1
				}
				if z < nz-1 {
					out[i+nx*ny] = 1
				}
			}
		}
	}
	return out
}

// fillHoles3D sets every background voxel not 6-connected to the grid
// border to 1, in place.
func fillHoles3D(m []uint8, sz [3]int) {
	nx, ny, nz := sz[0], sz[1], sz[2]
	outside := make([]bool, len(m))
	stack := make([]int, 0, 1024)
	push := func(i int) {
		if m[i] == 0 && !outside[i] {
			outside[i] = true
			stack = append(stack, i)
		}
	}
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				if x == 0 || y == 0 || z == 0 || x == nx-1 || y == ny-1 || z == nz-1 {
					push(x + nx*(y+ny*z))
				}
			}
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x := i % nx
		y := (i / nx) % ny
		z := i / (nx * ny)
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
		if z > 0 {
			push(i - nx*ny)
		}
		if z < nz-1 {
			push(i + nx*ny)
		}
	}
	for i := range m {
		if m[i] == 0 && !outside[i] {
			m[i] = 1
		}
	}
}

// fillHolesSlices fills, in every axial slice, the background regions not
// 4-connected to the slice border, in place (tumors at the liver edge open
// to the outside in 3D but are enclosed in most slices).
func fillHolesSlices(m []uint8, sz [3]int) {
	nx, ny, nz := sz[0], sz[1], sz[2]
	plane := nx * ny
	// state per voxel of the current slice: 0 unvisited, 1 outside
	outside := make([]uint8, plane)
	stack := make([]int32, 0, 1024)
	for z := 0; z < nz; z++ {
		s := m[z*plane : (z+1)*plane]
		any := false
		for _, v := range s {
			if v != 0 {
				any = true
				break
			}
		}
		if !any {
			continue
		}
		clear(outside)
		stack = stack[:0]
		for x := 0; x < nx; x++ {
			for _, i := range [2]int{x, x + nx*(ny-1)} {
				if s[i] == 0 && outside[i] == 0 {
					outside[i] = 1
					stack = append(stack, int32(i))
				}
			}
		}
		for y := 0; y < ny; y++ {
			for _, i := range [2]int{nx * y, nx*y + nx - 1} {
				if s[i] == 0 && outside[i] == 0 {
					outside[i] = 1
					stack = append(stack, int32(i))
				}
			}
		}
		for len(stack) > 0 {
			i := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			x := i % nx
			if x > 0 && s[i-1] == 0 && outside[i-1] == 0 {
				outside[i-1] = 1
				stack = append(stack, int32(i-1))
			}
			if x < nx-1 && s[i+1] == 0 && outside[i+1] == 0 {
				outside[i+1] = 1
				stack = append(stack, int32(i+1))
			}
			if i >= nx && s[i-nx] == 0 && outside[i-nx] == 0 {
				outside[i-nx] = 1
				stack = append(stack, int32(i-nx))
			}
			if i+nx < plane && s[i+nx] == 0 && outside[i+nx] == 0 {
				outside[i+nx] = 1
				stack = append(stack, int32(i+nx))
			}
		}
		for i := range s {
			if s[i] == 0 && outside[i] == 0 {
				s[i] = 1
			}
		}
	}
}

// keepLabel returns a mask of the voxels carrying component label id.
func keepLabel(lab []int32, id int32) []uint8 {
	out := make([]uint8, len(lab))
	for i, l := range lab {
		if l == id {
			out[i] = 1
		}
	}
	return out
}

func countNonzero(m []uint8) int {
	n := 0
	for _, v := range m {
		if v != 0 {
			n++
		}
	}
	return n
}

// cleanBox removes, inside box b of a full-size mask (geometry g), the
// 6-connected components of value val smaller than minVoxels, or every
// component but the largest when largestOnly is set. Upsampling a coarse
// probability leaves such fragments where a component is thin on the
// coarse grid.
func cleanBox(mask []uint8, g [3]int, b box, val uint8, minVoxels int, largestOnly bool) {
	bs := b.size()
	if b.empty() {
		return
	}
	sub := make([]uint8, bs[0]*bs[1]*bs[2])
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := b.lo[0] + g[0]*(b.lo[1]+y+g[1]*(b.lo[2]+z))
			dst := bs[0] * (y + bs[1]*z)
			for x := 0; x < bs[0]; x++ {
				if mask[src+x] == val {
					sub[dst+x] = 1
				}
			}
		}
	}
	lab, sizes := components(sub, bs)
	keep := make([]bool, len(sizes))
	big := largest(sizes)
	for id := 1; id < len(sizes); id++ {
		keep[id] = sizes[id] >= minVoxels
		if largestOnly {
			keep[id] = id == big
		}
	}
	for z := 0; z < bs[2]; z++ {
		for y := 0; y < bs[1]; y++ {
			src := b.lo[0] + g[0]*(b.lo[1]+y+g[1]*(b.lo[2]+z))
			dst := bs[0] * (y + bs[1]*z)
			for x := 0; x < bs[0]; x++ {
				if l := lab[dst+x]; l > 0 && !keep[l] {
					mask[src+x] = 0
				}
			}
		}
	}
}
