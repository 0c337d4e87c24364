package segmentation

import (
	"math"
	"math/rand/v2"

	"github.com/mhpnet/node/volume"
)

// phantom is a synthetic abdomen: body cylinder (30 HU), a liver-like
// ellipsoid on the patient's right (110 HU), an adjacent organ of similar
// HU on the left (105 HU, 3 voxels from the liver), dark spherical tumors
// (60 HU) of which one bulges through the liver edge, Gaussian noise.
type phantom struct {
	ct     *volume.Volume
	labels *volume.LabelVolume
}

type sphere struct {
	c [3]float64
	r float64
}

// Phantom layout (voxels of 2 × 2 × 2.5 mm on a 96 × 80 × 40 grid).
var (
	phLiverC   = [3]float64{32, 38, 20}
	phLiverR   = [3]float64{22, 20, 13}
	phOrganC   = [3]float64{70, 40, 20}
	phOrganR   = [3]float64{13, 14, 10}
	phTumors   = []sphere{{[3]float64{30, 34, 21}, 6}, {[3]float64{42, 46, 15}, 4.5}, {[3]float64{12, 38, 22}, 5}}
	phGeometry = volume.Geometry{
		Size:      [3]int{96, 80, 40},
		Spacing:   [3]float64{2, 2, 2.5},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
)

func inEllipsoid(x, y, z int, c, r [3]float64) bool {
	dx, dy, dz := (float64(x)-c[0])/r[0], (float64(y)-c[1])/r[1], (float64(z)-c[2])/r[2]
	return dx*dx+dy*dy+dz*dz <= 1
}

// newPhantom builds the phantom with noise drawn from seed; tumors lists
// which of phTumors to include.
func newPhantom(seed uint64, noiseHU float64, tumors []int) phantom {
	g := phGeometry
	ct, _ := volume.NewVolume(g, -1000)
	lab, _ := volume.NewLabelVolume(g)
	rng := rand.New(rand.NewPCG(seed, 7))
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				i := g.Index(x, y, z)
				hu := -1000.0
				bx, by := (float64(x)-48)/46, (float64(y)-40)/37
				if bx*bx+by*by <= 1 {
					hu = 30
				}
				if inEllipsoid(x, y, z, phOrganC, phOrganR) {
					hu = 105
				}
				if inEllipsoid(x, y, z, phLiverC, phLiverR) {
					hu = 110
					lab.Labels[i] = LabelLiver
				}
				for _, k := range tumors {
					s := phTumors[k]
					if inEllipsoid(x, y, z, s.c, [3]float64{s.r, s.r, s.r * 2 / 2.5}) {
						hu = 60
						lab.Labels[i] = LabelTumor
					}
				}
				if hu > -1000 {
					hu += noiseHU * rng.NormFloat64()
				}
				ct.HU[i] = int16(math.Round(hu))
			}
		}
	}
	return phantom{ct: ct, labels: lab}
}

func maskDice(a, b []uint8, va, vb func(uint8) bool) float64 {
	var na, nb, ni int
	for i := range a {
		x, y := va(a[i]), vb(b[i])
		if x {
			na++
		}
		if y {
			nb++
		}
		if x && y {
			ni++
		}
	}
	if na+nb == 0 {
		return 1
	}
	return 2 * float64(ni) / float64(na+nb)
}

func isLiverOrTumor(v uint8) bool { return v == LabelLiver || v == LabelTumor }
func isTumor(v uint8) bool        { return v == LabelTumor }
