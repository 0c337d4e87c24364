package nn

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// cpuSeconds is the CPU time (user + system, all threads) of this process.
// On a machine shared with other work, GFLOP per CPU-second is a steadier
// figure than GFLOP per wall second.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// reportRates reports GFLOP/s (wall) and GFLOP/cpu-s for flops done since
// the CPU clock read cpu0.
func reportRates(b *testing.B, flops, cpu0 float64) {
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSGEMM1024 measures the machine's SGEMM peak with the BLAS of this
// build (row-major, no transpose, 1024³), the yardstick for the Conv3d figures.
func BenchmarkSGEMM1024(b *testing.B) {
	const n = 1024
	rng := rand.New(rand.NewPCG(1, 1))
	a, _ := randSlice(rng, n*n, 1)
	bb, _ := randSlice(rng, n*n, 1)
	c := make([]float32, n*n)
	impl := sgemmImpl()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bb, n, 0, c, n)
	}
	reportRates(b, 2*n*n*n*float64(b.N), cpu0)
	b.Logf("BLAS: %s", BLASKernel())
}

// BenchmarkConv3d measures a typical layer, 16→16 channels, 3³, on a
// 2×16×40³ batch: forward, and forward + both backward passes.
func BenchmarkConv3d(b *testing.B) {
	g := newConvGeom(2, 16, 16, 3, 1, [3]int{40, 40, 40})
	rng := rand.New(rand.NewPCG(2, 2))
	x, _ := randSlice(rng, g.n*g.inC*g.inVox(), 1)
	w, _ := randSlice(rng, g.outC*g.kdim(), 0.1)
	bias, _ := randSlice(rng, g.outC, 0.1)
	y := make([]float32, g.n*g.outC*g.outVox())
	dy, _ := randSlice(rng, len(y), 1)
	dx := make([]float32, len(x))
	dw := make([]float32, len(w))
	e := newEngine()
	b.Run("forward", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuSeconds()
		for i := 0; i < b.N; i++ {
			e.convForward(y, x, w, bias, g, true)
		}
		reportRates(b, g.flops()*float64(b.N), cpu0)
		b.Logf("BLAS: %s, %d workers", BLASKernel(), e.workers)
	})
	b.Run("forward+backward", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuSeconds()
		for i := 0; i < b.N; i++ {
			e.convForward(y, x, w, bias, g, true)
			e.convInputGrad(dx, dy, w, g)
			e.convWeightGrad(dw, x, dy, g)
		}
		reportRates(b, 3*g.flops()*float64(b.N), cpu0)
	})
}

// BenchmarkPredict runs an 8-layer, 24-channel net (two input channels,
// dilations up to 4) on a 96×96×64 tile and reports output voxels/s.
func BenchmarkPredict(b *testing.B) {
	layers := []LayerSpec{{24, 3, 1}, {24, 3, 1}, {24, 3, 2}, {24, 3, 2}, {24, 3, 4}, {24, 3, 2}, {24, 3, 1}, {24, 3, 1}}
	a := Arch{InChannels: 2, Layers: layers, Classes: 1}
	n, err := NewNet(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	size := [3]int{96, 96, 64}
	rng := rand.New(rand.NewPCG(3, 3))
	in, _ := randSlice(rng, 2*96*96*64, 1)
	osz, _ := a.OutSize(size)
	var flops float64
	s := size
	for l, spec := range a.layers() {
		g := newConvGeom(1, a.inChannels(l), spec.Out, spec.Kernel, spec.Dilation, s)
		flops += g.flops()
		s = g.out
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if _, _, err := n.Predict(context.Background(), in, size); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(osz[0]*osz[1]*osz[2])*float64(b.N)/sec, "voxels/s")
	b.ReportMetric(float64(size[0]*size[1]*size[2])*float64(b.N)/sec, "in-voxels/s")
	reportRates(b, flops*float64(b.N), cpu0)
	b.Logf("BLAS: %s; radius %d, out %v", BLASKernel(), a.ReceptiveRadius(), osz)
}

// BenchmarkTrainStep is one Adam step of the phantom test's net on 4×24³.
func BenchmarkTrainStep(b *testing.B) {
	n, _ := NewNet(phantomArch, 1)
	tr, _ := NewTrainer(n, TrainOptions{})
	ph := newPhantom(1, [3]int{48, 48, 48}, 10, 0.1)
	r := phantomArch.ReceptiveRadius()
	const ps = 24
	os := ps - 2*r
	in := make([]float32, 4*ps*ps*ps)
	lab := make([]uint8, 4*os*os*os)
	for i := 0; i < 4; i++ {
		ph.crop(in[i*ps*ps*ps:], lab[i*os*os*os:], 8*i, 4*i, 24-8*i, [3]int{ps, ps, ps}, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(context.Background(), in, [3]int{ps, ps, ps}, lab, nil); err != nil {
			b.Fatal(err)
		}
	}
}
