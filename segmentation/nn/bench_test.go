package nn

import (
	"context"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
)

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
	for i := 0; i < b.N; i++ {
		impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bb, n, 0, c, n)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
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
		for i := 0; i < b.N; i++ {
			e.convForward(y, x, w, bias, g, true)
		}
		b.ReportMetric(g.flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		b.Logf("BLAS: %s, %d workers", BLASKernel(), e.workers)
	})
	b.Run("forward+backward", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e.convForward(y, x, w, bias, g, true)
			e.convInputGrad(dx, dy, w, g)
			e.convWeightGrad(dw, x, dy, g)
		}
		b.ReportMetric(3*g.flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
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
	for i := 0; i < b.N; i++ {
		if _, _, err := n.Predict(context.Background(), in, size); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(osz[0]*osz[1]*osz[2])*float64(b.N)/sec, "voxels/s")
	b.ReportMetric(float64(size[0]*size[1]*size[2])*float64(b.N)/sec, "in-voxels/s")
	b.ReportMetric(flops*float64(b.N)/sec/1e9, "GFLOP/s")
	b.Logf("BLAS: %s; radius %d, out %v", BLASKernel(), a.ReceptiveRadius(), osz)
}

// BenchmarkTrainStep is one Adam step of the phantom test's net on 4×24³.
func BenchmarkTrainStep(b *testing.B) {
	n, _ := NewNet(phantomArch, 1)
	tr, _ := NewTrainer(n, TrainOptions{})
	ph := newPhantom(1, [3]int{24, 24, 24}, 2, 0.1)
	r := phantomArch.ReceptiveRadius()
	in := make([]float32, 0, 4*24*24*24)
	var lab []uint8
	os := 24 - 2*r
	l := make([]uint8, os*os*os)
	for i := 0; i < 4; i++ {
		in = append(in, ph.img...)
		ph.crop(make([]float32, 24*24*24), l, 0, 0, 0, [3]int{24, 24, 24}, r)
		lab = append(lab, l...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(context.Background(), in, [3]int{24, 24, 24}, lab, nil); err != nil {
			b.Fatal(err)
		}
	}
}
