package nn

import (
	"fmt"
	"time"

	"gonum.org/v1/gonum/blas"
)

// FLOPs is the floating-point operation count (2 per multiply-add) of
// Predict on an input of size voxels (x, y, z): every VALID convolution and
// the 1×1×1 head. Benchmarks divide it by the time taken to report GFLOP/s.
func (a Arch) FLOPs(size [3]int) (float64, error) {
	if err := a.Validate(); err != nil {
		return 0, err
	}
	cur := size
	total := 0.0
	layers := a.layers()
	for i, l := range layers {
		g := newConvGeom(1, a.inChannels(i), l.Out, l.Kernel, l.Dilation, cur)
		if !g.valid() {
			return 0, &ShapeError{What: "FLOPs input", Expected: fmt.Sprintf("at least %d voxels per axis", 2*a.ReceptiveRadius()+1),
				Found: fmt.Sprintf("%v (too small for layer %d)", size, i+1)}
		}
		total += g.flops()
		cur = g.out
	}
	return total, nil
}

// SGEMMPeak measures the GFLOP/s of an n×n×n single-precision matrix
// product with the BLAS this package uses (BLASKernel), best of reps. It is
// the machine's reference figure printed beside Conv3d throughput.
func SGEMMPeak(n, reps int) float64 {
	if n < 1 || reps < 1 {
		return 0
	}
	a := make([]float32, n*n)
	b := make([]float32, n*n)
	c := make([]float32, n*n)
	for i := range a {
		a[i] = float32(i%7) * 0.25
		b[i] = float32(i%5) * 0.5
	}
	impl := sgemmImpl()
	best := time.Duration(1<<63 - 1)
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, b, n, 0, c, n)
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	return 2 * float64(n) * float64(n) * float64(n) / best.Seconds() / 1e9
}
