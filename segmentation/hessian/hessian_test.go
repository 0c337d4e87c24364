package hessian

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/mhpnet/node/volume"
)

// phantom samples fn(patient position) into an int16 volume; a test
// geometry with an off-axis origin so geometry slips show.
func phantom(size [3]int, spacing [3]float64, fn func(p [3]float64) float64) *volume.Volume {
	g := volume.Geometry{
		Size:      size,
		Origin:    [3]float64{-40, 25, -300},
		Spacing:   spacing,
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
	v, _ := volume.NewVolume(g, 0)
	for z := 0; z < size[2]; z++ {
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				p := g.VoxelToPatient([3]float64{float64(x), float64(y), float64(z)})
				v.HU[g.Index(x, y, z)] = int16(math.Round(fn(p)))
			}
		}
	}
	return v
}

// centre of the phantom in patient coordinates.
func centre(size [3]int, spacing [3]float64) [3]float64 {
	var c [3]float64
	o := [3]float64{-40, 25, -300}
	for a := 0; a < 3; a++ {
		c[a] = o[a] + float64(size[a]-1)/2*spacing[a]
	}
	return c
}

func gaussianBlob(c [3]float64, s, amp, bg float64) func(p [3]float64) float64 {
	return func(p [3]float64) float64 {
		r2 := 0.0
		for a := 0; a < 3; a++ {
			r2 += (p[a] - c[a]) * (p[a] - c[a])
		}
		return bg + amp*math.Exp(-r2/(2*s*s))
	}
}

// valueAt interpolates the response trilinearly at patient point p.
func valueAt(f *volume.Float32Volume, p [3]float64) float32 {
	v := f.PatientToVoxel(p)
	var i [3]int
	var w [3]float64
	for a := 0; a < 3; a++ {
		fl := math.Floor(v[a])
		i[a], w[a] = int(fl), v[a]-fl
		if i[a] >= f.Size[a]-1 {
			i[a], w[a] = f.Size[a]-2, 1
		}
	}
	acc := 0.0
	for c := 0; c < 8; c++ {
		wt := 1.0
		var j [3]int
		for a := 0; a < 3; a++ {
			if c>>a&1 == 1 {
				wt *= w[a]
				j[a] = i[a] + 1
			} else {
				wt *= 1 - w[a]
				j[a] = i[a]
			}
		}
		acc += wt * float64(f.At(j[0], j[1], j[2]))
	}
	return float32(acc)
}

// blobPeak is the theoretical scale-normalised curvature at the centre of
// a Gaussian blob of std s and amplitude amp seen at scale sigma:
// amp·σ²·s³/(s²+σ²)^(5/2), maximal at σ = s·√(2/3).
func blobPeak(amp, s, sigma float64) float64 {
	return amp * sigma * sigma * s * s * s / math.Pow(s*s+sigma*sigma, 2.5)
}

func TestBlobPeaksAtExpectedScaleAndCentre(t *testing.T) {
	size, sp := [3]int{41, 41, 41}, [3]float64{1, 1, 1}
	c := centre(size, sp)
	s := 4.9 // expected scale s·√(2/3) = 4.0 mm
	v := phantom(size, sp, gaussianBlob(c, s, 200, 60))
	sigmas := []float64{2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 7}
	res, err := Enhance(context.Background(), v, Options{SigmasMM: sigmas, Polarity: Bright, SamplesPerSigma: -1, Truncate: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Response peaks at the centre voxel.
	best, bestI := float32(0), -1
	for i, r := range res.Response.Data {
		if r > best {
			best, bestI = r, i
		}
	}
	cv := v.PatientToVoxel(c)
	if want := v.Index(int(cv[0]), int(cv[1]), int(cv[2])); bestI != want {
		t.Fatalf("peak at voxel %d, want centre %d", bestI, want)
	}
	// The winning scale at the centre is σ = 4 mm (index 5).
	if got := res.Scale[bestI]; got != 5 {
		t.Fatalf("winning scale index %d (σ=%g), want 5 (σ=4)", got, sigmas[got-1])
	}
	// Its value matches the closed form within sampling error.
	want := blobPeak(200, s, 4)
	if math.Abs(float64(best)-want) > 0.03*want {
		t.Fatalf("peak response %.3f HU, closed form %.3f HU", best, want)
	}
	t.Logf("peak %.3f HU (closed form %.3f) at σ=4 mm", best, want)
}

func TestPolarityAndShapeSelectivity(t *testing.T) {
	size, sp := [3]int{45, 45, 45}, [3]float64{1, 1, 1}
	c := centre(size, sp)
	const s, amp = 4.0, 120.0
	tube := func(p [3]float64) float64 { // along z
		r2 := (p[0]-c[0])*(p[0]-c[0]) + (p[1]-c[1])*(p[1]-c[1])
		return 60 + amp*math.Exp(-r2/(2*s*s))
	}
	plane := func(p [3]float64) float64 { // a slab normal to x
		return 60 + amp*math.Exp(-(p[0]-c[0])*(p[0]-c[0])/(2*s*s))
	}
	opts := Options{SigmasMM: []float64{2, 3, 4, 5}}
	run := func(fn func([3]float64) float64) *Result {
		res, err := Enhance(context.Background(), phantom(size, sp, fn), opts)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	bright := run(gaussianBlob(c, s, amp, 60))
	dark := run(gaussianBlob(c, s, -amp, 60))
	tb := run(tube)
	pl := run(plane)
	bb, bd := valueAt(bright.Bright, c), valueAt(bright.Dark, c)
	db, dd := valueAt(dark.Bright, c), valueAt(dark.Dark, c)
	t.Logf("bright blob: bright %.2f dark %.2f; dark blob: bright %.2f dark %.2f; tube max %.3f; plane max %.3f",
		bb, bd, db, dd, maxOf(tb.Response.Data), maxOf(pl.Response.Data))
	want := blobPeak(amp, s, 3.27) // near the best scale between 3 and 4
	if float64(bb) < 0.9*want || bd != 0 {
		t.Fatalf("bright blob: bright %.3f (want ≈ %.3f), dark %.3f (want 0)", bb, want, bd)
	}
	if float64(dd) < 0.9*want || db != 0 {
		t.Fatalf("dark blob: dark %.3f (want ≈ %.3f), bright %.3f (want 0)", dd, want, db)
	}
	if math.Abs(float64(dd-bb)) > 0.02*float64(bb) {
		t.Fatalf("dark and bright blobs of equal contrast differ: %.3f vs %.3f", dd, bb)
	}
	// A tube or a plane of the same profile responds far less anywhere.
	if m := maxOf(tb.Response.Data); m > 0.1*bb {
		t.Fatalf("tube response %.3f, more than 10%% of the blob's %.3f", m, bb)
	}
	if m := maxOf(pl.Response.Data); m > 0.02*bb {
		t.Fatalf("plane response %.3f, more than 2%% of the blob's %.3f", m, bb)
	}
}

func maxOf(d []float32) float32 {
	m := float32(0)
	for _, v := range d {
		m = max(m, v)
	}
	return m
}

func TestAnisotropicSpacingAgreesInMM(t *testing.T) {
	const s, amp = 5.0, -80.0 // a dark blob, 10 mm across at 1 std
	sigmas := []float64{3, 4, 6}
	iso := [3]float64{1, 1, 1}
	aniso := [3]float64{0.7, 0.7, 1.6}
	isoSize := [3]int{45, 45, 45}
	anisoSize := [3]int{65, 65, 29}
	ci, ca := centre(isoSize, iso), centre(anisoSize, aniso)
	for _, down := range []float64{-1, 0} {
		ri, err := Enhance(context.Background(), phantom(isoSize, iso, gaussianBlob(ci, s, amp, 90)), Options{SigmasMM: sigmas, Polarity: Dark, SamplesPerSigma: down})
		if err != nil {
			t.Fatal(err)
		}
		ra, err := Enhance(context.Background(), phantom(anisoSize, aniso, gaussianBlob(ca, s, amp, 90)), Options{SigmasMM: sigmas, Polarity: Dark, SamplesPerSigma: down})
		if err != nil {
			t.Fatal(err)
		}
		// Compare at points around the centre, in mm, relative to the peak.
		peak := float64(valueAt(ri.Response, ci))
		for _, off := range [][3]float64{{0, 0, 0}, {4, 0, 0}, {0, 5, 0}, {0, 0, 4.8}, {3, 3, -3.2}} {
			pi := [3]float64{ci[0] + off[0], ci[1] + off[1], ci[2] + off[2]}
			pa := [3]float64{ca[0] + off[0], ca[1] + off[1], ca[2] + off[2]}
			a, b := valueAt(ri.Response, pi), valueAt(ra.Response, pa)
			if math.Abs(float64(a-b)) > 0.03*peak {
				t.Fatalf("downsampling %v, offset %v mm: isotropic %.3f HU, anisotropic %.3f HU", down, off, a, b)
			}
		}
		t.Logf("samples/σ %v: centre isotropic %.3f, anisotropic %.3f HU", down, valueAt(ri.Response, ci), valueAt(ra.Response, ca))
	}
}

func TestBoxLimitsOutputAndMatchesFullVolume(t *testing.T) {
	size, sp := [3]int{60, 50, 30}, [3]float64{0.8, 0.8, 1.5}
	c := centre(size, sp)
	v := phantom(size, sp, gaussianBlob(c, 4, -100, 80))
	full, err := Enhance(context.Background(), v, Options{SigmasMM: []float64{2, 4, 8}})
	if err != nil {
		t.Fatal(err)
	}
	box := volume.Box{Min: [3]int{20, 15, 8}, Max: [3]int{45, 40, 24}}
	part, err := Enhance(context.Background(), v, Options{SigmasMM: []float64{2, 4, 8}, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	if part.Response.Size != [3]int{25, 25, 16} {
		t.Fatalf("box output size %v", part.Response.Size)
	}
	p := part.Response.VoxelToPatient([3]float64{0, 0, 0})
	q := v.VoxelToPatient([3]float64{20, 15, 8})
	if p != q {
		t.Fatalf("box origin %v, want %v", p, q)
	}
	// Inside the box the filters read the same neighbourhood, so values
	// agree (up to the coarse grids' placement, which follows the region).
	worst := 0.0
	for z := 0; z < 16; z++ {
		for y := 0; y < 25; y++ {
			for x := 0; x < 25; x++ {
				a := float64(part.Response.At(x, y, z))
				b := float64(full.Response.At(x+20, y+15, z+8))
				worst = math.Max(worst, math.Abs(a-b))
			}
		}
	}
	peak := float64(maxOf(full.Response.Data))
	if worst > 0.03*peak {
		t.Fatalf("box and full volume differ by %.3f HU (peak %.3f)", worst, peak)
	}
}

func TestOptionsAndInputErrors(t *testing.T) {
	v := phantom([3]int{8, 8, 8}, [3]float64{1, 1, 1}, func([3]float64) float64 { return 0 })
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"negative sigma", Options{SigmasMM: []float64{2, -1}}, ErrOptions},
		{"polarity", Options{Polarity: 7}, ErrOptions},
		{"truncate", Options{Truncate: 0.5}, ErrOptions},
		{"samples", Options{SamplesPerSigma: 0.5}, ErrOptions},
		{"box outside", Options{Box: volume.Box{Min: [3]int{4, 4, 4}, Max: [3]int{9, 8, 8}}}, ErrInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Enhance(context.Background(), v, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Enhance(ctx, v, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err %v", err)
	}
}
