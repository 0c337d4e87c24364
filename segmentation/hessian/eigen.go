package hessian

import "math"

// Eigenvalues returns the eigenvalues of the symmetric 3×3 matrix
// [[xx xy xz] [xy yy yz] [xz yz zz]] in ascending order, in closed form
// (the trigonometric solution of the characteristic cubic: O. K. Smith,
// "Eigenvalues of a symmetric 3×3 matrix", CACM 4(4), 1961).
func Eigenvalues(xx, yy, zz, xy, xz, yz float64) [3]float64 {
	p1 := xy*xy + xz*xz + yz*yz
	q := (xx + yy + zz) / 3
	a, b, c := xx-q, yy-q, zz-q
	p2 := a*a + b*b + c*c + 2*p1
	if p2 < 1e-300 { // a multiple of the identity
		return [3]float64{q, q, q}
	}
	p := math.Sqrt(p2 / 6)
	// det(B)/2 with B = (A − qI)/p.
	det := a*(b*c-yz*yz) - xy*(xy*c-yz*xz) + xz*(xy*yz-b*xz)
	r := det / (2 * p * p * p)
	if r <= -1 {
		r = -1
	} else if r >= 1 {
		r = 1
	}
	// cos(φ+2π/3) = −(cos φ + √3 sin φ)/2: one Sincos instead of two Cos.
	sin, cos := math.Sincos(math.Acos(r) / 3)
	e3 := q + 2*p*cos                  // largest
	e1 := q - p*(cos+math.Sqrt(3)*sin) // smallest
	e2 := 3*q - e1 - e3
	// Guard the middle value's ordering against rounding.
	if e2 < e1 {
		e2 = e1
	}
	if e2 > e3 {
		e2 = e3
	}
	return [3]float64{e1, e2, e3}
}

// dot returns Li et al.'s dot-enhancement measure |λ3|²/|λ1| (|λ1| ≥ |λ2| ≥
// |λ3|) of a matrix whose eigenvalues share one sign, given the largest and
// smallest magnitudes: for a sphere all three are equal and the measure is
// the curvature itself; for a tube (λ3 ≈ 0) or a plane it vanishes
// quadratically (Q. Li, S. Sone, K. Doi, "Selective enhancement filters
// for nodules, vessels, and airway walls in two- and three-dimensional CT
// scans", Med. Phys. 30(8), 2003).
func dot(largestMag, smallestMag float64) float64 {
	if largestMag <= 0 {
		return 0
	}
	return smallestMag * smallestMag / largestMag
}

// BlobMeasure returns the dark-blob and bright-blob responses of a
// Hessian (already scale-normalised): the dot measure when all three
// eigenvalues are positive (an intensity minimum: a dark blob) or all
// negative (a maximum: a bright blob), zero otherwise. Definiteness is
// tested first with Sylvester's criterion, so most voxels (saddles,
// tubes, planes) skip the eigen-decomposition.
func BlobMeasure(xx, yy, zz, xy, xz, yz float64) (dark, bright float64) {
	m2 := xx*yy - xy*xy
	if m2 <= 0 {
		return 0, 0
	}
	det := xx*(yy*zz-yz*yz) - xy*(xy*zz-yz*xz) + xz*(xy*yz-yy*xz)
	switch {
	case xx > 0 && det > 0: // positive definite
		e := Eigenvalues(xx, yy, zz, xy, xz, yz)
		if e[0] <= 0 {
			return 0, 0
		}
		return dot(e[2], e[0]), 0
	case xx < 0 && det < 0: // negative definite
		e := Eigenvalues(xx, yy, zz, xy, xz, yz)
		if e[2] >= 0 {
			return 0, 0
		}
		return 0, dot(-e[0], -e[2])
	}
	return 0, 0
}
