package seg

import "math"

// CIELab is a colour as RecommendedDisplayCIELabValue (0062,000D) holds it:
// L* scaled from 0..100 to 0..65535, a* and b* from -128..127 to 0..65535
// (PS3.3 C.10.7.1.1).
type CIELab [3]uint16

// RGBToCIELab converts an sRGB colour (IEC 61966-2-1, D65 white) to the
// scaled CIELab of PS3.3 C.10.7.1.1. The D65 white point is the one dcmqi
// and highdicom use, so viewers show the same colour for the same RGB.
func RGBToCIELab(rgb [3]uint8) CIELab {
	var lin [3]float64
	for i, c := range rgb {
		v := float64(c) / 255
		if v > 0.04045 {
			lin[i] = math.Pow((v+0.055)/1.055, 2.4)
		} else {
			lin[i] = v / 12.92
		}
	}
	// sRGB -> XYZ (D65), IEC 61966-2-1 matrix.
	x := 0.4124564*lin[0] + 0.3575761*lin[1] + 0.1804375*lin[2]
	y := 0.2126729*lin[0] + 0.7151522*lin[1] + 0.0721750*lin[2]
	z := 0.0193339*lin[0] + 0.1191920*lin[1] + 0.9503041*lin[2]
	const xn, yn, zn = 0.95047, 1.0, 1.08883
	const d = 6.0 / 29
	f := func(t float64) float64 {
		if t > d*d*d {
			return math.Cbrt(t)
		}
		return t/(3*d*d) + 4.0/29
	}
	fx, fy, fz := f(x/xn), f(y/yn), f(z/zn)
	l := 116*fy - 16
	a := 500 * (fx - fy)
	b := 200 * (fy - fz)
	return CIELab{
		scale(l / 100),
		scale((a + 128) / 255),
		scale((b + 128) / 255),
	}
}

func scale(v float64) uint16 {
	v = math.Round(v * 65535)
	if v < 0 {
		return 0
	}
	if v > 65535 {
		return 65535
	}
	return uint16(v)
}
