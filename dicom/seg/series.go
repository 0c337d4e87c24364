package seg

import (
	"fmt"

	"github.com/mhpnet/node/dicom"
)

// SourceFromSeries describes a series read by package dicom for Encode:
// its UIDs, geometry, slices in volume z order and the Patient and Study
// elements of its header. The error satisfies errors.Is(err,
// ErrInvalidSource).
func SourceFromSeries(s *dicom.Series) (Source, error) {
	if s == nil {
		return Source{}, &SourceError{Reason: "no series"}
	}
	src := Source{
		StudyInstanceUID:    s.StudyInstanceUID,
		SeriesInstanceUID:   s.SeriesInstanceUID,
		FrameOfReferenceUID: s.FrameOfReferenceUID,
		Geometry:            s.Geometry,
		SliceThickness:      s.SliceThickness,
		Slices:              make([]SourceSlice, 0, len(s.Instances)),
	}
	for _, in := range s.Instances {
		src.Slices = append(src.Slices, SourceSlice{
			SOPClassUID:          in.SOPClassUID,
			SOPInstanceUID:       in.SOPInstanceUID,
			FrameNumber:          in.FrameNumber,
			ImagePositionPatient: in.ImagePositionPatient,
		})
	}
	if s.Header != nil {
		src.Header = HeaderElements(*s.Header)
	}
	if err := src.Validate(); err != nil {
		return Source{}, fmt.Errorf("series %s: %w", s.SeriesInstanceUID, err)
	}
	return src, nil
}
