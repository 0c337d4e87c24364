package volume

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared machine it
// shows the work done, which wall time (inflated by other load) does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLoop runs fn b.N times and reports voxels per wall second and CPU
// seconds per run.
func benchLoop(b *testing.B, voxels int, fn func() error) {
	b.Helper()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(voxels)*float64(b.N)/b.Elapsed().Seconds(), "voxels/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

func isoGeometry(size [3]int) Geometry {
	return Geometry{Size: size, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
}

// naiveComponents labels a mask by breadth-first flood fill over explicit
// neighbour lists (an independent reference for LabelComponents).
func naiveComponents(m *LabelVolume, conn Connectivity) (lab []int32, sizes []int) {
	lab = make([]int32, len(m.Labels))
	nx, ny, nz := m.Size[0], m.Size[1], m.Size[2]
	for start := range m.Labels {
		if m.Labels[start] == 0 || lab[start] != 0 {
			continue
		}
		sizes = append(sizes, 0)
		id := int32(len(sizes))
		stack := []int{start}
		lab[start] = id
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sizes[id-1]++
			x, y, z := i%nx, (i/nx)%ny, i/(nx*ny)
			for dz := -1; dz <= 1; dz++ {
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						d := abs(dx) + abs(dy) + abs(dz)
						if d == 0 || (conn == Conn6 && d > 1) {
							continue
						}
						X, Y, Z := x+dx, y+dy, z+dz
						if X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz {
							continue
						}
						j := X + nx*(Y+ny*Z)
						if m.Labels[j] != 0 && lab[j] == 0 {
							lab[j] = id
							stack = append(stack, j)
						}
					}
				}
			}
		}
	}
	return lab, sizes
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

func TestLabelComponentsHandMade(t *testing.T) {
	g := isoGeometry([3]int{6, 5, 4})
	m, _ := NewLabelVolume(g)
	set := func(x, y, z int) { m.Labels[g.Index(x, y, z)] = 1 }
	// A 2×2×2 cube at the origin, a voxel touching it by a corner only,
	// and a separate 3-voxel bar.
	for z := 0; z < 2; z++ {
		for y := 0; y < 2; y++ {
			for x := 0; x < 2; x++ {
				set(x, y, z)
			}
		}
	}
	set(2, 2, 2)
	set(5, 0, 3)
	set(5, 1, 3)
	set(5, 2, 3)
	tests := []struct {
		name  string
		conn  Connectivity
		comps []Component
	}{
		{"6", Conn6, []Component{
			{Voxels: 8, Box: Box{Max: [3]int{2, 2, 2}}},
			{Voxels: 1, Box: Box{Min: [3]int{2, 2, 2}, Max: [3]int{3, 3, 3}}},
			{Voxels: 3, Box: Box{Min: [3]int{5, 0, 3}, Max: [3]int{6, 3, 4}}},
		}},
		{"26", Conn26, []Component{
			{Voxels: 9, Box: Box{Max: [3]int{3, 3, 3}}},
			{Voxels: 3, Box: Box{Min: [3]int{5, 0, 3}, Max: [3]int{6, 3, 4}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LabelComponents(m, tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Components) != len(tc.comps) {
				t.Fatalf("%d components %v, want %d", len(c.Components), c.Components, len(tc.comps))
			}
			for k := range tc.comps {
				if c.Components[k] != tc.comps[k] {
					t.Errorf("component %d = %+v, want %+v", k+1, c.Components[k], tc.comps[k])
				}
			}
			if c.Largest() != 1 {
				t.Errorf("largest = %d, want 1", c.Largest())
			}
		})
	}
	if _, err := LabelComponents(m, 18); !errors.Is(err, ErrConnectivity) {
		t.Fatalf("connectivity 18: err %v, want ErrConnectivity", err)
	}
}

func TestLabelComponentsAgainstFloodFill(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := isoGeometry([3]int{23, 17, 11})
	for _, density := range []float64{0.2, 0.35, 0.6} {
		m, _ := NewLabelVolume(g)
		for i := range m.Labels {
			if rng.Float64() < density {
				m.Labels[i] = uint8(1 + rng.IntN(3))
			}
		}
		for _, conn := range []Connectivity{Conn6, Conn26} {
			c, err := LabelComponents(m, conn)
			if err != nil {
				t.Fatal(err)
			}
			ref, sizes := naiveComponents(m, conn)
			if len(c.Components) != len(sizes) {
				t.Fatalf("density %.2f conn %d: %d components, flood fill finds %d", density, conn, len(c.Components), len(sizes))
			}
			// Both number components by first voxel in scan order, so the
			// labellings must be identical.
			for i := range ref {
				if ref[i] != c.Labels[i] {
					t.Fatalf("density %.2f conn %d: voxel %d labelled %d, flood fill %d", density, conn, i, c.Labels[i], ref[i])
				}
			}
			for k, s := range sizes {
				if c.Components[k].Voxels != s {
					t.Fatalf("component %d: %d voxels, flood fill %d", k+1, c.Components[k].Voxels, s)
				}
			}
		}
	}
}

func TestKeepLargestAndRemoveSmall(t *testing.T) {
	g := isoGeometry([3]int{10, 10, 10})
	m, _ := NewLabelVolume(g)
	fill := func(b Box, v uint8) {
		for z := b.Min[2]; z < b.Max[2]; z++ {
			for y := b.Min[1]; y < b.Max[1]; y++ {
				for x := b.Min[0]; x < b.Max[0]; x++ {
					m.Labels[g.Index(x, y, z)] = v
				}
			}
		}
	}
	fill(Box{Min: [3]int{0, 0, 0}, Max: [3]int{2, 2, 2}}, 1)   // 8
	fill(Box{Min: [3]int{4, 4, 4}, Max: [3]int{8, 8, 7}}, 1)   // 48
	fill(Box{Min: [3]int{5, 5, 5}, Max: [3]int{6, 6, 6}}, 2)   // a tumor label inside it
	fill(Box{Min: [3]int{9, 0, 9}, Max: [3]int{10, 3, 10}}, 1) // 3
	k, err := KeepLargestComponent(m, Conn6)
	if err != nil {
		t.Fatal(err)
	}
	if n1, n2 := k.Count(1), k.Count(2); n1 != 47 || n2 != 1 {
		t.Fatalf("largest kept %d×1 + %d×2 voxels, want 47 + 1", n1, n2)
	}
	r, removed, err := RemoveSmallComponents(m, Conn26, 5)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 || r.Count(1) != 8+47 {
		t.Fatalf("removed %d components, %d voxels left; want 1 and 55", removed, r.Count(1))
	}
	if got := (Geometry{Spacing: [3]float64{0.5, 0.5, 2}}).VoxelsForML(0.1); got != 200 {
		t.Fatalf("VoxelsForML(0.1) = %d, want 200", got)
	}
}

// liverMask builds a 512×512×120 CT-sized mask (0.7×0.7×1.6 mm) holding a
// liver-like ellipsoid (about 1.6 L) with spherical holes, plus scattered
// small blobs.
func liverMask() *LabelVolume {
	g := Geometry{Size: [3]int{512, 512, 120}, Spacing: [3]float64{0.7, 0.7, 1.6},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	m, _ := NewLabelVolume(g)
	c := [3]float64{200 * 0.7, 230 * 0.7, 60 * 1.6}
	for z := 0; z < 120; z++ {
		for y := 0; y < 512; y++ {
			for x := 0; x < 512; x++ {
				px, py, pz := float64(x)*0.7-c[0], float64(y)*0.7-c[1], float64(z)*1.6-c[2]
				e := px*px/(100*100) + py*py/(80*80) + pz*pz/(60*60)
				h := (px-30)*(px-30) + py*py + pz*pz
				if e < 1 && h > 15*15 {
					m.Labels[g.Index(x, y, z)] = 1
				}
				if (x*7+y*13+z*31)%997 == 0 {
					m.Labels[g.Index(x, y, z)] = 1
				}
			}
		}
	}
	return m
}

func BenchmarkLabelComponents(b *testing.B) {
	m := liverMask()
	for _, conn := range []Connectivity{Conn6, Conn26} {
		b.Run(fmt.Sprintf("conn%d", conn), func(b *testing.B) {
			benchLoop(b, m.Len(), func() error { _, err := LabelComponents(m, conn); return err })
		})
	}
}

func BenchmarkKeepLargestComponent(b *testing.B) {
	m := liverMask()
	benchLoop(b, m.Len(), func() error { _, err := KeepLargestComponent(m, Conn26); return err })
}

func TestComponentHelpersRejectBadInput(t *testing.T) {
	if _, err := KeepLargestComponent(nil, Conn6); !errors.Is(err, ErrGeometry) {
		t.Fatalf("nil mask: err %v, want ErrGeometry", err)
	}
	g := isoGeometry([3]int{3, 3, 3})
	m, _ := NewLabelVolume(g)
	m.Labels[13] = 1
	if _, _, err := RemoveSmallComponents(m, 8, 1); !errors.Is(err, ErrConnectivity) {
		t.Fatalf("connectivity 8: err %v, want ErrConnectivity", err)
	}
	empty, _ := NewLabelVolume(g)
	k, err := KeepLargestComponent(empty, Conn26)
	if err != nil || k.Count(0) != 27 {
		t.Fatalf("empty mask: %v, %d background voxels", err, k.Count(0))
	}
}
