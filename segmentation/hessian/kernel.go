package hessian

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// kernels holds the sampled Gaussian derivative kernels of one axis, as
// correlation weights over offsets −r..r (index j+r): out[i] = Σ w[j]·in[i+j].
type kernels struct {
	r      int
	d0     []float32 // smoothing, Σ = 1
	d1     []float32 // first derivative per mm: Σ j·w = 1/spacing
	d2     []float32 // second derivative per mm²: Σ w = 0, Σ j²·w/2 = 1/spacing²
	sigma  float64   // in voxels
	radius float64   // truncate·sigma in voxels
}

// gaussianKernels samples the Gaussian of standard deviation sigmaVox
// voxels and its first two derivatives over ±round(truncate·sigma) voxels,
// as scipy.ndimage does, then corrects their moments so that the
// truncated kernels stay exact on polynomials up to degree 2: a constant
// gives no second derivative (a plain truncated kernel would turn
// 100 HU of parenchyma into a spurious blob response of ~0.1 HU at
// truncate 4 and ~3 HU at truncate 3). Derivatives are scaled to
// millimetres by spacing.
func gaussianKernels(sigmaVox, truncate, spacing float64, correct bool) kernels {
	r := int(truncate*sigmaVox + 0.5)
	if r < 1 {
		r = 1
	}
	n := 2*r + 1
	phi := make([]float64, n)
	sum := 0.0
	s2 := sigmaVox * sigmaVox
	for j := -r; j <= r; j++ {
		v := math.Exp(-0.5 * float64(j*j) / s2)
		phi[j+r] = v
		sum += v
	}
	for i := range phi {
		phi[i] /= sum
	}
	k := kernels{r: r, d0: make([]float32, n), d1: make([]float32, n), d2: make([]float32, n), sigma: sigmaVox, radius: truncate * sigmaVox}
	d1 := make([]float64, n)
	d2 := make([]float64, n)
	s0 := 0.0
	for j := -r; j <= r; j++ {
		x := float64(j)
		// Correlation weights: scipy's convolution kernels reversed, which
		// flips the sign of the odd (first-derivative) kernel.
		d1[j+r] = x / s2 * phi[j+r]
		d2[j+r] = (x*x/(s2*s2) - 1/s2) * phi[j+r]
		s0 += d2[j+r]
	}
	// Remove d2's response to a constant by subtracting a multiple of the
	// (unit-sum) smoothing kernel, which keeps it Gaussian-weighted and
	// symmetric; then scale d1 and d2 so that x → 1 and x² → 2 exactly.
	m1, m2 := 0.0, 0.0
	for j := -r; j <= r; j++ {
		x := float64(j)
		d2[j+r] -= s0 * phi[j+r]
		m1 += x * d1[j+r]
		m2 += x * x * d2[j+r]
	}
	if !correct { // scipy's kernels as they are (tests compare against it)
		m1, m2 = 1, 2
		for j := -r; j <= r; j++ {
			d2[j+r] += s0 * phi[j+r]
		}
	}
	for j := 0; j < n; j++ {
		k.d0[j] = float32(phi[j])
		k.d1[j] = float32(d1[j] / m1 / spacing)
		k.d2[j] = float32(2 * d2[j] / m2 / (spacing * spacing))
	}
	return k
}

// clampIndex returns i limited to [0, n-1] (edge replication).
func clampIndex(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

// forEach runs fn(i) for i in [0, n) on workers goroutines, handing out
// indices one at a time (slices differ in cost), and stops early with the
// context's error.
func forEach(ctx context.Context, workers, n int, fn func(worker, i int)) error {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if ctx.Err() != nil {
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// axpy adds a·x to y.
func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// corrRow correlates src (edge-replicated, via the padded buffer pad of
// length len(src)+2r) with the symmetric (odd=false) or antisymmetric
// (odd=true) kernel w, writing dst. Symmetry halves the multiplications.
func corrRow(dst, src, pad []float32, w []float32, r int, odd bool) {
	n := len(src)
	pad = pad[:n+2*r]
	first, last := src[0], src[n-1]
	for j := 0; j < r; j++ {
		pad[j] = first
		pad[n+r+j] = last
	}
	copy(pad[r:r+n], src)
	// Accumulate tap by tap over the whole row (axpy form): streaming
	// loops without bounds checks, instead of a reduction per output.
	dst = dst[:n]
	if odd {
		clear(dst)
	} else {
		c := w[r]
		ctr := pad[r : r+n]
		for i := range dst {
			dst[i] = c * ctr[i]
		}
	}
	for j := 1; j <= r; j++ {
		wj := w[r+j]
		p := pad[r+j : r+j+n]
		m := pad[r-j : r-j+n]
		if odd {
			for i := range dst {
				dst[i] += wj * (p[i] - m[i])
			}
		} else {
			for i := range dst {
				dst[i] += wj * (p[i] + m[i])
			}
		}
	}
}
