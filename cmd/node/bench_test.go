package main

import (
	"context"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/segmentation"
	"github.com/mhpnet/node/segmentation/nn"
)

// BenchmarkSegmentStudy is the speed figure of issue 4: one 512×512×119
// study (IRCAD 1.17) segmented by the embedded model, with wall seconds per
// study, voxels/s, peak RSS, and the Conv3d throughput of the model's own
// networks beside the machine's SGEMM peak measured in the same run.
//
//	go test ./cmd/node -run '^$' -bench BenchmarkSegmentStudy -benchtime 3x
func BenchmarkSegmentStudy(b *testing.B) {
	ctx := context.Background()
	series, err := dicom.ReadSeries(ctx, filepath.Join(testdata.CT(b, "ircadb/3Dircadb1.17"), "PATIENT_DICOM"), readerOptions())
	if err != nil {
		b.Fatal(err)
	}
	ct, err := series.LoadVolume(ctx)
	if err != nil {
		b.Fatal(err)
	}
	m, err := segmentation.DefaultModel()
	if err != nil {
		b.Fatal(err)
	}
	peak := nn.SGEMMPeak(1024, 3)
	conv := map[string]float64{}
	for name, spec := range map[string]segmentation.ArchSpec{"liver": m.Config().Liver.Arch, "tumor": m.Config().Tumor.Arch} {
		conv[name] = convGFLOPS(ctx, b, spec)
	}
	b.Logf("machine: %d CPUs, GOMAXPROCS %d, BLAS %s, SGEMM 1024³ peak %.1f GFLOP/s; Conv3d (model's nets, 64³ output tile) liver %.1f, tumor %.1f GFLOP/s; targets <= 4 s, <= 2048 MB",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), nn.BLASKernel(), peak, conv["liver"], conv["tumor"])
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := m.Segment(ctx, ct, segmentation.Options{}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	sec := total.Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/study")
	b.ReportMetric(float64(ct.Len())/sec, "voxels/s")
	b.ReportMetric(maxRSSMB(), "peakRSS-MB")
	b.ReportMetric(peak, "SGEMM-GFLOP/s")
	b.ReportMetric(conv["liver"], "conv-liver-GFLOP/s")
	b.ReportMetric(conv["tumor"], "conv-tumor-GFLOP/s")
}

// convGFLOPS times Predict of a network with spec's architecture on an
// input giving a 64³ output tile, and returns its GFLOP/s.
func convGFLOPS(ctx context.Context, b *testing.B, spec segmentation.ArchSpec) float64 {
	b.Helper()
	a := nn.Arch{InChannels: spec.InChannels, Classes: spec.Classes}
	for _, l := range spec.Layers {
		a.Layers = append(a.Layers, nn.LayerSpec{Out: l.Out, Kernel: l.Kernel, Dilation: l.Dilation})
	}
	net, err := nn.NewNet(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	side := 64 + 2*a.ReceptiveRadius()
	size := [3]int{side, side, side}
	flops, err := a.FLOPs(size)
	if err != nil {
		b.Fatal(err)
	}
	in := make([]float32, a.InChannels*side*side*side)
	for i := range in {
		in[i] = float32(i%13) * 0.1
	}
	best := time.Duration(1<<63 - 1)
	for r := 0; r < 3; r++ {
		t0 := time.Now()
		if _, _, err := net.Predict(ctx, in, size); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	return flops / best.Seconds() / 1e9
}

// maxRSSMB is the process's peak resident set size in MB (Linux ru_maxrss
// is in KiB).
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
