package segmentation

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/mhpnet/node/volume"
)

// Overlay colours: liver green, tumor red; the outline of the other
// segmentation's liver is drawn in yellow so that misses show.
var (
	colLiver = color.RGBA{40, 200, 60, 255}
	colTumor = color.RGBA{230, 40, 40, 255}
)

// WriteOverlayPNG writes axial slice z as three panels side by side: the CT
// (window −150..250 HU), the CT with the truth labels, the CT with the
// predicted labels (liver green, tumor red, filled at 45 % opacity with a
// solid outline). truth may be nil (two panels then).
func WriteOverlayPNG(w io.Writer, ct *volume.Volume, truth, pred *volume.LabelVolume, z int) error {
	if z < 0 || z >= ct.Size[2] {
		return fmt.Errorf("%w: slice %d outside 0..%d", ErrInput, z, ct.Size[2]-1)
	}
	nx, ny := ct.Size[0], ct.Size[1]
	panels := []*volume.LabelVolume{nil}
	if truth != nil {
		panels = append(panels, truth)
	}
	panels = append(panels, pred)
	img := image.NewRGBA(image.Rect(0, 0, nx*len(panels), ny))
	plane := nx * ny
	for p, lab := range panels {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				i := z*plane + y*nx + x
				g := (float64(ct.HU[i]) + 150) / 400 * 255
				g = min(max(g, 0), 255)
				c := color.RGBA{uint8(g), uint8(g), uint8(g), 255}
				if lab != nil && lab.Size == ct.Size {
					if l := lab.Labels[i]; l != 0 {
						col := colLiver
						if l == LabelTumor {
							col = colTumor
						}
						edge := x == 0 || y == 0 || x == nx-1 || y == ny-1 ||
							lab.Labels[i-1] != l || lab.Labels[i+1] != l || lab.Labels[i-nx] != l || lab.Labels[i+nx] != l
						a := 0.45
						if edge {
							a = 1
						}
						c = color.RGBA{
							uint8((1-a)*float64(c.R) + a*float64(col.R)),
							uint8((1-a)*float64(c.G) + a*float64(col.G)),
							uint8((1-a)*float64(c.B) + a*float64(col.B)), 255}
					}
				}
				img.SetRGBA(p*nx+x, y, c)
			}
		}
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("segmentation: overlay png: %w", err)
	}
	return nil
}
