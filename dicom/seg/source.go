package seg

import (
	"fmt"
	"math"
	"strings"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/volume"
)

// SourceSlice is one slice of the source series, in volume z order.
type SourceSlice struct {
	// SOPClassUID and SOPInstanceUID identify the instance holding the slice.
	SOPClassUID, SOPInstanceUID string
	// FrameNumber is the 1-based frame of a multi-frame source instance,
	// 0 for a single-frame instance.
	FrameNumber int
	// ImagePositionPatient is the slice's (0020,0032) in mm (LPS).
	ImagePositionPatient [3]float64
}

// Source is what the encoder needs from the source series.
type Source struct {
	// StudyInstanceUID and SeriesInstanceUID of the source series.
	StudyInstanceUID, SeriesInstanceUID string
	// FrameOfReferenceUID of the source; empty when the source has none
	// (the IRCAD files), in which case the encoder derives one and says so.
	FrameOfReferenceUID string
	// Geometry is the voxel grid of the source volume; the label volume
	// must be on it.
	Geometry volume.Geometry
	// SliceThickness is the source's (0018,0050) in mm; 0 when absent, in
	// which case the slice spacing is written.
	SliceThickness float64
	// Slices lists one entry per slice of Geometry, in volume z order.
	Slices []SourceSlice
	// Header holds the elements of the Patient, General Study and Patient
	// Study modules (and SpecificCharacterSet) to copy verbatim, as
	// HeaderElements picks them from a source instance. Other elements are
	// refused.
	Header []*dcm.Element
}

// CopiedTag reports whether the encoder copies attribute t verbatim from
// the source header (Source.Header): the Patient (PS3.3 C.7.1.1), General
// Study (C.7.2.1) and Patient Study (C.7.2.2) modules, SpecificCharacterSet
// so that their strings decode as in the source, and
// PositionReferenceIndicator, which belongs with the source's Frame of
// Reference.
func CopiedTag(t tag.Tag) bool {
	switch uint32(t.Group)<<16 | uint32(t.Element) {
	case
		0x00080005, // SpecificCharacterSet
		// Patient.
		0x00081120, // ReferencedPatientSequence
		0x00100010, // PatientName
		0x00100020, // PatientID
		0x00100021, // IssuerOfPatientID
		0x00100022, // TypeOfPatientID
		0x00100024, // IssuerOfPatientIDQualifiersSequence
		0x00100030, // PatientBirthDate
		0x00100032, // PatientBirthTime
		0x00100033, // PatientBirthDateInAlternativeCalendar
		0x00100034, // PatientDeathDateInAlternativeCalendar
		0x00100035, // PatientAlternativeCalendar
		0x00100040, // PatientSex
		0x00100200, // QualityControlSubject
		0x00101000, // OtherPatientIDs (retired, still copied)
		0x00101001, // OtherPatientNames
		0x00101002, // OtherPatientIDsSequence
		0x00101100, // ReferencedPatientPhotoSequence
		0x00102160, // EthnicGroup
		0x00102201, // PatientSpeciesDescription
		0x00102202, // PatientSpeciesCodeSequence
		0x00102292, // PatientBreedDescription
		0x00102293, // PatientBreedCodeSequence
		0x00102294, // BreedRegistrationSequence
		0x00102297, // ResponsiblePerson
		0x00102298, // ResponsiblePersonRole
		0x00102299, // ResponsibleOrganization
		0x00104000, // PatientComments
		0x00120062, // PatientIdentityRemoved
		0x00120063, // DeidentificationMethod
		0x00120064, // DeidentificationMethodCodeSequence
		// General Study.
		0x00080020, // StudyDate
		0x00080030, // StudyTime
		0x00080050, // AccessionNumber
		0x00080051, // IssuerOfAccessionNumberSequence
		0x00080090, // ReferringPhysicianName
		0x00080096, // ReferringPhysicianIdentificationSequence
		0x0008009C, // ConsultingPhysicianName
		0x0008009D, // ConsultingPhysicianIdentificationSequence
		0x00081030, // StudyDescription
		0x00081032, // ProcedureCodeSequence
		0x00081048, // PhysiciansOfRecord
		0x00081049, // PhysiciansOfRecordIdentificationSequence
		0x00081060, // NameOfPhysiciansReadingStudy
		0x00081062, // PhysiciansReadingStudyIdentificationSequence
		0x00081110, // ReferencedStudySequence
		0x00200010, // StudyID
		0x00321034, // RequestingServiceCodeSequence
		0x00401012, // ReasonForPerformedProcedureCodeSequence
		// Patient Study.
		0x00081080, // AdmittingDiagnosesDescription
		0x00081084, // AdmittingDiagnosesCodeSequence
		0x00101010, // PatientAge
		0x00101020, // PatientSize
		0x00101022, // PatientBodyMassIndex
		0x00101023, // MeasuredAPDimension
		0x00101024, // MeasuredLateralDimension
		0x00101030, // PatientWeight
		0x00102000, // MedicalAlerts
		0x00102110, // Allergies
		0x00102180, // Occupation
		0x001021A0, // SmokingStatus
		0x001021B0, // AdditionalPatientHistory
		0x001021C0, // PregnancyStatus
		0x001021D0, // LastMenstrualDate
		0x00102203, // PatientSexNeutered
		0x00321066, // ReasonForVisit
		0x00321067, // ReasonForVisitCodeSequence
		0x00380010, // AdmissionID
		0x00380014, // IssuerOfAdmissionIDSequence
		0x00380060, // ServiceEpisodeID
		0x00380062, // ServiceEpisodeDescription
		0x00380064, // IssuerOfServiceEpisodeIDSequence
		0x00380500, // PatientState
		// Frame of Reference.
		0x00201040: // PositionReferenceIndicator
		return true
	}
	return false
}

// HeaderElements returns the elements of ds that the SEG copies verbatim
// from its source (Source.Header), in ds order.
func HeaderElements(ds dcm.Dataset) []*dcm.Element {
	var out []*dcm.Element
	for _, e := range ds.Elements {
		if CopiedTag(e.Tag) {
			out = append(out, e)
		}
	}
	return out
}

// Validate reports whether s can be referenced by a SEG; the error
// satisfies errors.Is(err, ErrInvalidSource) and says what is wrong.
func (s *Source) Validate() error {
	fail := func(format string, a ...any) error {
		return &SourceError{Reason: fmt.Sprintf(format, a...)}
	}
	if err := validUID(s.StudyInstanceUID); err != nil {
		return fail("StudyInstanceUID: %v", err)
	}
	if err := validUID(s.SeriesInstanceUID); err != nil {
		return fail("SeriesInstanceUID: %v", err)
	}
	if s.FrameOfReferenceUID != "" {
		if err := validUID(s.FrameOfReferenceUID); err != nil {
			return fail("FrameOfReferenceUID: %v", err)
		}
	}
	if err := s.Geometry.Validate(); err != nil {
		return fail("geometry: %v", err)
	}
	if s.Geometry.Size[0] > 0xFFFF || s.Geometry.Size[1] > 0xFFFF {
		return fail("slice size %dx%d exceeds the 65535 Rows/Columns of DICOM", s.Geometry.Size[1], s.Geometry.Size[0])
	}
	if !(s.SliceThickness >= 0) || math.IsInf(s.SliceThickness, 0) {
		return fail("SliceThickness %v must be a finite number >= 0", s.SliceThickness)
	}
	if len(s.Slices) != s.Geometry.Size[2] {
		return fail("%d slices listed for a geometry of %d slices", len(s.Slices), s.Geometry.Size[2])
	}
	// A slice position may differ from the regular grid by rounding in the
	// source's DS values; more than 1% of the slice spacing means the list
	// is not the volume's.
	tol := 0.01*s.Geometry.Spacing[2] + 1e-3
	for z, sl := range s.Slices {
		if err := validUID(sl.SOPClassUID); err != nil {
			return fail("slice %d SOPClassUID: %v", z, err)
		}
		if err := validUID(sl.SOPInstanceUID); err != nil {
			return fail("slice %d SOPInstanceUID: %v", z, err)
		}
		if sl.FrameNumber < 0 {
			return fail("slice %d FrameNumber %d is negative", z, sl.FrameNumber)
		}
		want := s.Geometry.SlicePosition(z)
		for c := 0; c < 3; c++ {
			if d := math.Abs(sl.ImagePositionPatient[c] - want[c]); !(d <= tol) {
				return fail("slice %d ImagePositionPatient %v is %.3g mm from the geometry's %v (tolerance %.3g mm)",
					z, sl.ImagePositionPatient, d, want, tol)
			}
		}
	}
	type ref struct {
		uid   string
		frame int
	}
	seen := make(map[ref]int, len(s.Slices))
	for z, sl := range s.Slices {
		k := ref{sl.SOPInstanceUID, sl.FrameNumber}
		if prev, dup := seen[k]; dup {
			return fail("slices %d and %d are the same instance %s frame %d", prev, z, sl.SOPInstanceUID, sl.FrameNumber)
		}
		seen[k] = z
	}
	for _, e := range s.Header {
		// Name the tag only: a value could be a patient attribute.
		if e == nil {
			return fail("nil header element")
		}
		if !CopiedTag(e.Tag) {
			return fail("header element %v is not one of the Patient, General Study or Patient Study attributes the SEG copies", e.Tag)
		}
	}
	return nil
}

// validUID checks the syntax of PS3.5 9.1: at most 64 characters, digits
// and dots, no empty or zero-led component.
func validUID(u string) error {
	if u == "" {
		return fmt.Errorf("missing")
	}
	if len(u) > 64 {
		return fmt.Errorf("%q is longer than 64 characters", u)
	}
	for _, c := range strings.Split(u, ".") {
		if c == "" || strings.Trim(c, "0123456789") != "" || (len(c) > 1 && c[0] == '0') {
			return fmt.Errorf("%q is not a valid UID (digits and dots, no leading zeros)", u)
		}
	}
	return nil
}
