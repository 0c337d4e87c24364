package dicom

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mhpnet/node/volume"
)

// IRCAD labels of ReadIRCADMasks.
const (
	// LabelLiver marks liver voxels that are not tumor.
	LabelLiver uint8 = 1
	// LabelTumor marks tumor voxels; they are liver too.
	LabelTumor uint8 = 2
)

// ReadMask reads a mask series (one structure stored as an 8-bit CT series,
// 0 = background, anything else = foreground, as in 3D-IRCADb-01
// MASKS_DICOM/<structure>) into a label volume on the CT grid ct, with 1 for
// foreground. Masks carry their own Study and Series UIDs, so they are
// paired with the CT by position: every mask slice must lie on a CT slice,
// with the CT's size and orientation, or ErrMixedGeometry says which slice
// does not. CT slices without a mask slice stay background.
func ReadMask(ctx context.Context, dir string, ct volume.Geometry) (*volume.LabelVolume, error) {
	if err := ct.Validate(); err != nil {
		return nil, fmt.Errorf("dicom: mask %s: CT geometry: %w", dir, err)
	}
	s, err := ReadSeries(ctx, dir, Options{})
	if err != nil {
		return nil, fmt.Errorf("dicom: mask: %w", err)
	}
	mg := s.Geometry
	if mg.Size[0] != ct.Size[0] || mg.Size[1] != ct.Size[1] {
		return nil, fmt.Errorf("dicom: mask %s: %w", dir, ErrMixedGeometry{Attribute: "Columns x Rows (mask vs CT)",
			First: fmt.Sprintf("%dx%d", ct.Size[0], ct.Size[1]), Other: fmt.Sprintf("%dx%d", mg.Size[0], mg.Size[1]),
			SOPInstanceUID: s.Instances[0].SOPInstanceUID})
	}
	for a := range 2 {
		if math.Abs(mg.Spacing[a]-ct.Spacing[a]) > 1e-4*math.Max(ct.Spacing[a], 1) {
			return nil, fmt.Errorf("dicom: mask %s: %w", dir, ErrMixedGeometry{Attribute: "PixelSpacing (mask vs CT)",
				First: fmt.Sprint(ct.Spacing[:2]), Other: fmt.Sprint(mg.Spacing[:2]), SOPInstanceUID: s.Instances[0].SOPInstanceUID})
		}
		for c := range 3 {
			if math.Abs(mg.Direction[a][c]-ct.Direction[a][c]) > orientationTolerance {
				return nil, fmt.Errorf("dicom: mask %s: %w", dir, ErrMixedGeometry{Attribute: "ImageOrientationPatient (mask vs CT)",
					First: fmt.Sprint(ct.Direction[:2]), Other: fmt.Sprint(mg.Direction[:2]), SOPInstanceUID: s.Instances[0].SOPInstanceUID})
			}
		}
	}
	// Map every mask slice to its CT slice before decoding anything.
	tol := math.Max(SpacingAbsTolerance, SpacingRelTolerance*ct.Spacing[2])
	zs := make([]int, len(s.Instances))
	for i, in := range s.Instances {
		v := ct.PatientToVoxel(in.ImagePositionPatient)
		z := int(math.Round(v[2]))
		off := math.Hypot(v[0]*ct.Spacing[0], v[1]*ct.Spacing[1])
		if off > tol || math.Abs(v[2]-float64(z))*ct.Spacing[2] > tol || z < 0 || z >= ct.Size[2] {
			return nil, fmt.Errorf("dicom: mask %s: %w", dir, ErrMixedGeometry{
				Attribute:      "ImagePositionPatient (mask slice not on the CT grid)",
				First:          fmt.Sprintf("CT slices 0..%d from %v every %.4g mm", ct.Size[2]-1, ct.Origin, ct.Spacing[2]),
				Other:          fmt.Sprintf("%v (CT voxel %.3f, %.3f, %.3f)", in.ImagePositionPatient, v[0], v[1], v[2]),
				SOPInstanceUID: in.SOPInstanceUID})
		}
		zs[i] = z
	}
	mv, err := s.LoadVolume(ctx)
	if err != nil {
		return nil, fmt.Errorf("dicom: mask %s: %w", dir, err)
	}
	lv, err := volume.NewLabelVolume(ct)
	if err != nil {
		return nil, err
	}
	L := ct.Size[0] * ct.Size[1]
	for i, z := range zs {
		src := mv.HU[i*L : (i+1)*L]
		dst := lv.Labels[z*L : (z+1)*L]
		for j, v := range src {
			if v != 0 {
				dst[j] = 1
			}
		}
	}
	return lv, nil
}

// ReadIRCADMasks reads a 3D-IRCADb-01 MASKS_DICOM folder into one label
// volume on the CT grid: LabelLiver (1) from the "liver" folder and
// LabelTumor (2) for the union of the "livertumor*" folders. Tumor voxels
// are liver too, so label 2 implies liver: a tumor voxel outside the liver
// mask still gets 2. Other structures (vessels, cysts, ...) are ignored.
func ReadIRCADMasks(ctx context.Context, masksDir string, ct volume.Geometry) (*volume.LabelVolume, error) {
	liver, err := ReadMask(ctx, filepath.Join(masksDir, "liver"), ct)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(masksDir)
	if err != nil {
		return nil, fmt.Errorf("dicom: %w", err)
	}
	var tumors []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(strings.ToLower(e.Name()), "livertumor") {
			tumors = append(tumors, e.Name())
		}
	}
	sort.Strings(tumors)
	for _, name := range tumors {
		t, err := ReadMask(ctx, filepath.Join(masksDir, name), ct)
		if err != nil {
			return nil, err
		}
		for i, v := range t.Labels {
			if v != 0 {
				liver.Labels[i] = LabelTumor
			}
		}
	}
	return liver, nil
}
