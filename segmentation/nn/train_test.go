package nn

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// phantom is a synthetic liver-like test volume: a bright ellipsoid (1.0)
// on a dark background (0.0) holding dark spheres (0.45), plus Gaussian noise.
// label is 1 inside the spheres.
type phantom struct {
	size  [3]int
	img   []float32
	label []uint8
}

func newPhantom(seed uint64, size [3]int, spheres int, noise float64) phantom {
	rng := rand.New(rand.NewPCG(seed, 42))
	nx, ny, nz := size[0], size[1], size[2]
	p := phantom{size: size, img: make([]float32, nx*ny*nz), label: make([]uint8, nx*ny*nz)}
	cx, cy, cz := float64(nx)/2, float64(ny)/2, float64(nz)/2
	ax, ay, az := 0.42*float64(nx), 0.38*float64(ny), 0.40*float64(nz)
	type ball struct{ x, y, z, r float64 }
	var balls []ball
	for try := 0; len(balls) < spheres && try < 100000; try++ { // small volumes may hold fewer
		r := 2.5 + rng.Float64()*3.5
		b := ball{cx + (rng.Float64()*2-1)*(ax-r-2), cy + (rng.Float64()*2-1)*(ay-r-2), cz + (rng.Float64()*2-1)*(az-r-2), r}
		// keep it inside the ellipsoid and apart from the others
		if sq((b.x-cx)/(ax-r))+sq((b.y-cy)/(ay-r))+sq((b.z-cz)/(az-r)) > 1 {
			continue
		}
		ok := true
		for _, o := range balls {
			if math.Sqrt(sq(b.x-o.x)+sq(b.y-o.y)+sq(b.z-o.z)) < b.r+o.r+2 {
				ok = false
			}
		}
		if ok {
			balls = append(balls, b)
		}
	}
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				i := x + nx*(y+ny*z)
				fx, fy, fz := float64(x)+0.5, float64(y)+0.5, float64(z)+0.5
				v := 0.0
				if sq((fx-cx)/ax)+sq((fy-cy)/ay)+sq((fz-cz)/az) <= 1 {
					v = 1
				}
				for _, b := range balls {
					if sq(fx-b.x)+sq(fy-b.y)+sq(fz-b.z) <= b.r*b.r {
						v = 0.45
						p.label[i] = 1
					}
				}
				p.img[i] = float32(v + rng.NormFloat64()*noise)
			}
		}
	}
	return p
}

func sq(v float64) float64 { return v * v }

// crop copies the input patch starting at (x0, y0, z0) of extent in, and the
// label of its central extent out (in − 2r).
func (p phantom) crop(dstImg []float32, dstLab []uint8, x0, y0, z0 int, in [3]int, r int) {
	nx, ny := p.size[0], p.size[1]
	i := 0
	for z := 0; z < in[2]; z++ {
		for y := 0; y < in[1]; y++ {
			o := x0 + nx*(y0+y+ny*(z0+z))
			i += copy(dstImg[i:i+in[0]], p.img[o:o+in[0]])
		}
	}
	j := 0
	for z := r; z < in[2]-r; z++ {
		for y := r; y < in[1]-r; y++ {
			o := x0 + r + nx*(y0+y+ny*(z0+z))
			j += copy(dstLab[j:j+in[0]-2*r], p.label[o:o+in[0]-2*r])
		}
	}
}

var phantomArch = Arch{InChannels: 1, Layers: []LayerSpec{{8, 3, 1}, {8, 3, 2}, {8, 3, 1}}, Classes: 1}

// trainPhantom trains phantomArch on 24³ patches of one phantom, half of
// them centred on a sphere voxel.
func trainPhantom(t testing.TB, seed int64, steps int) (*Net, []float64) {
	n, err := NewNet(phantomArch, seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(n, TrainOptions{LearningRate: 5e-3, BatchSize: 4, Seed: seed, CEWeight: 1, DiceWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	ph := newPhantom(1, [3]int{48, 48, 48}, 10, 0.1)
	var fg []int
	for i, v := range ph.label {
		if v != 0 {
			fg = append(fg, i)
		}
	}
	const ps = 24
	r := phantomArch.ReceptiveRadius()
	in := [3]int{ps, ps, ps}
	os := ps - 2*r
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	img := make([]float32, 4*ps*ps*ps)
	lab := make([]uint8, 4*os*os*os)
	var losses []float64
	for s := 0; s < steps; s++ {
		for b := 0; b < 4; b++ {
			var x0, y0, z0 int
			if b%2 == 0 {
				c := fg[rng.IntN(len(fg))]
				x0, y0, z0 = c%48-ps/2+rng.IntN(7)-3, c/48%48-ps/2+rng.IntN(7)-3, c/(48*48)-ps/2+rng.IntN(7)-3
				x0, y0, z0 = min(max(x0, 0), 48-ps), min(max(y0, 0), 48-ps), min(max(z0, 0), 48-ps)
			} else {
				x0, y0, z0 = rng.IntN(48-ps+1), rng.IntN(48-ps+1), rng.IntN(48-ps+1)
			}
			ph.crop(img[b*ps*ps*ps:], lab[b*os*os*os:], x0, y0, z0, in, r)
		}
		loss, err := tr.Step(context.Background(), img, in, lab, nil)
		if err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
		losses = append(losses, loss)
	}
	return n, losses
}

// TestPhantomLearning trains a tiny net for 150 steps of four 24³ patches and segments
// a held-out phantom (other seed: other sphere positions and noise) with
// Dice > 0.9 on the dark spheres.
func TestPhantomLearning(t *testing.T) {
	n, losses := trainPhantom(t, 1, 150)
	first, last := mean(losses[:20]), mean(losses[len(losses)-20:])
	t.Logf("loss: first 20 steps %.3f, last 20 steps %.3f", first, last)
	if last > first/3 {
		t.Errorf("loss fell from %.3f to only %.3f", first, last)
	}
	test := newPhantom(99, [3]int{48, 48, 48}, 10, 0.1)
	prob, osz, err := n.Predict(context.Background(), test.img, test.size)
	if err != nil {
		t.Fatal(err)
	}
	r := phantomArch.ReceptiveRadius()
	var inter, sumP, sumT int
	for z := 0; z < osz[2]; z++ {
		for y := 0; y < osz[1]; y++ {
			for x := 0; x < osz[0]; x++ {
				p := prob[x+osz[0]*(y+osz[1]*z)] > 0.5
				g := test.label[x+r+48*(y+r+48*(z+r))] != 0
				if p {
					sumP++
				}
				if g {
					sumT++
				}
				if p && g {
					inter++
				}
			}
		}
	}
	dice := 2 * float64(inter) / float64(sumP+sumT)
	t.Logf("held-out phantom: %d sphere voxels, %d predicted, Dice %.4f", sumT, sumP, dice)
	if sumT < 1000 {
		t.Fatalf("phantom has only %d sphere voxels in the output region", sumT)
	}
	if dice <= 0.9 {
		t.Errorf("Dice %.4f ≤ 0.9", dice)
	}
}

// TestTrainingDeterministic trains twice with the same seed (bit-identical
// weights expected) and once with another seed (different weights).
func TestTrainingDeterministic(t *testing.T) {
	a, la := trainPhantom(t, 5, 15)
	b, lb := trainPhantom(t, 5, 15)
	c, _ := trainPhantom(t, 6, 15)
	wa, _ := a.MarshalBinary()
	wb, _ := b.MarshalBinary()
	wc, _ := c.MarshalBinary()
	if !bytes.Equal(wa, wb) {
		t.Error("two trainings with seed 5 gave different weights")
	}
	for i := range la {
		if la[i] != lb[i] {
			t.Fatalf("step %d: losses %v and %v differ", i, la[i], lb[i])
		}
	}
	if bytes.Equal(wa, wc) {
		t.Error("seeds 5 and 6 gave identical weights")
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
