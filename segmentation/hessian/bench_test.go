package hessian

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mhpnet/node/volume"
)

// abdomen builds a CT-like phantom: fat around a liver-like ellipsoid at
// 100 HU with hypodense lesions, bright vessels and 15 HU of noise.
func abdomen(size [3]int, spacing [3]float64) *volume.Volume {
	g := volume.Geometry{Size: size, Spacing: spacing, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, _ := volume.NewVolume(g, 0)
	rng := rand.New(rand.NewPCG(11, 12))
	c := [3]float64{float64(size[0]) * spacing[0] / 2, float64(size[1]) * spacing[1] / 2, float64(size[2]) * spacing[2] / 2}
	lesions := [][4]float64{{c[0] - 40, c[1], c[2], 12}, {c[0] + 30, c[1] + 20, c[2] - 20, 6}, {c[0], c[1] - 30, c[2] + 30, 20}}
	for z := 0; z < size[2]; z++ {
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				p := [3]float64{float64(x) * spacing[0], float64(y) * spacing[1], float64(z) * spacing[2]}
				dx, dy, dz := (p[0]-c[0])/100, (p[1]-c[1])/80, (p[2]-c[2])/90
				hu := -100.0
				if dx*dx+dy*dy+dz*dz < 1 {
					hu = 100
					for _, l := range lesions {
						r2 := (p[0]-l[0])*(p[0]-l[0]) + (p[1]-l[1])*(p[1]-l[1]) + (p[2]-l[2])*(p[2]-l[2])
						if r2 < l[3]*l[3] {
							hu = 60
						}
					}
					if math.Abs(math.Sin(p[0]/15)*20+c[1]-p[1]) < 3 { // a vessel
						hu = 180
					}
				}
				v.HU[g.Index(x, y, z)] = int16(hu + 15*rng.NormFloat64())
			}
		}
	}
	return v
}

// BenchmarkEnhanceLiverBox runs the default enhancer (6 scales, both
// polarities) on a liver-box-sized region (300×250×120 at 0.7×0.7×1.6 mm)
// inside a larger volume that supplies the context around it.
func BenchmarkEnhanceLiverBox(b *testing.B) {
	v := abdomen([3]int{420, 360, 130}, [3]float64{0.7, 0.7, 1.6})
	box := volume.Box{Min: [3]int{60, 55, 5}, Max: [3]int{360, 305, 125}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := Enhance(context.Background(), v, Options{Box: box}); err != nil {
			b.Fatal(err)
		}
	}
	reportSpeed(b, box.Len(), cpu0)
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// shows the work done, which wall time (inflated by other load) does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportSpeed reports voxels per wall second, CPU seconds per run and the
// process's peak resident memory so far (VmHWM: run one benchmark at a
// time to attribute it).
func reportSpeed(b *testing.B, voxels int, cpu0 time.Duration) {
	b.ReportMetric(float64(voxels)*float64(b.N)/b.Elapsed().Seconds(), "voxels/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
				if kb, err := strconv.Atoi(f[1]); err == nil {
					b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
				}
			}
		}
	}
}

// BenchmarkEnhanceScale times each default scale alone on the same box.
func BenchmarkEnhanceScale(b *testing.B) {
	v := abdomen([3]int{420, 360, 130}, [3]float64{0.7, 0.7, 1.6})
	box := volume.Box{Min: [3]int{60, 55, 5}, Max: [3]int{360, 305, 125}}
	for _, s := range DefaultSigmasMM() {
		b.Run("sigma"+formatFloat(s), func(b *testing.B) {
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := Enhance(context.Background(), v, Options{Box: box, SigmasMM: []float64{s}}); err != nil {
					b.Fatal(err)
				}
			}
			reportSpeed(b, box.Len(), cpu0)
		})
	}
}

// BenchmarkEnhanceTumorGrid runs the default enhancer on the liver box
// resampled to the tumor stage's 2 mm grid (105×88×96 voxels) inside a
// volume holding 64 mm of context around it.
func BenchmarkEnhanceTumorGrid(b *testing.B) {
	v := abdomen([3]int{170, 152, 160}, [3]float64{2, 2, 2})
	box := volume.Box{Min: [3]int{32, 32, 32}, Max: [3]int{137, 120, 128}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := Enhance(context.Background(), v, Options{Box: box}); err != nil {
			b.Fatal(err)
		}
	}
	reportSpeed(b, box.Len(), cpu0)
}
