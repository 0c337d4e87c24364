package dicom

import (
	"strings"

	"github.com/suyashkumar/dicom/pkg/uid"
)

// SOP Class UIDs (PS3.4 Annex B, PS3.6 Annex A) the reader tells apart.
const (
	// CTImageStorage is CT Image Storage.
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	// EnhancedCTImageStorage is Enhanced CT Image Storage (multi-frame).
	EnhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.1"
	// LegacyConvertedEnhancedCTImageStorage is Legacy Converted Enhanced CT
	// Image Storage (multi-frame, same functional groups as Enhanced CT).
	LegacyConvertedEnhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.2"
	// SecondaryCaptureImageStorage is Secondary Capture Image Storage; the
	// multi-frame secondary captures share its prefix.
	SecondaryCaptureImageStorage = "1.2.840.10008.5.1.4.1.1.7"
	// XRayRadiationDoseSRStorage is the radiation dose structured report.
	XRayRadiationDoseSRStorage = "1.2.840.10008.5.1.4.1.1.88.67"
	// SegmentationStorage is Segmentation Storage (DICOM SEG).
	SegmentationStorage = "1.2.840.10008.5.1.4.1.1.66.4"
)

// Transfer syntax UIDs (PS3.5 §10, PS3.6 Annex A) decoded natively.
const (
	// ImplicitVRLittleEndian is the default transfer syntax.
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	// ExplicitVRLittleEndian is the transfer syntax the node asks PACS for.
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// DeflatedExplicitVRLittleEndian is explicit little endian, deflated.
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	// ExplicitVRBigEndian is the retired big endian transfer syntax.
	ExplicitVRBigEndian = "1.2.840.10008.1.2.2"
)

// isCTClass reports whether a SOP class holds CT images the node reads.
func isCTClass(sopClass string) bool {
	switch sopClass {
	case CTImageStorage, EnhancedCTImageStorage, LegacyConvertedEnhancedCTImageStorage:
		return true
	}
	return false
}

// isMultiFrameCTClass reports whether a CT SOP class uses functional groups.
func isMultiFrameCTClass(sopClass string) bool {
	return sopClass == EnhancedCTImageStorage || sopClass == LegacyConvertedEnhancedCTImageStorage
}

// isSecondaryCapture reports whether a SOP class is one of the secondary
// capture classes (1.2.840.10008.5.1.4.1.1.7 and .7.1 to .7.4).
func isSecondaryCapture(sopClass string) bool {
	return sopClass == SecondaryCaptureImageStorage || strings.HasPrefix(sopClass, SecondaryCaptureImageStorage+".")
}

// isStructuredReport reports whether a SOP class is a structured report
// (1.2.840.10008.5.1.4.1.1.88.x), which includes dose reports.
func isStructuredReport(sopClass string) bool {
	return strings.HasPrefix(sopClass, "1.2.840.10008.5.1.4.1.1.88.")
}

// SOPClassName returns the PS3.6 name of a SOP class, or "unknown SOP class".
func SOPClassName(sopClass string) string {
	if info, err := uid.Lookup(sopClass); err == nil {
		return info.Name
	}
	return "unknown SOP class"
}

// TransferSyntaxName returns the PS3.6 name of a transfer syntax UID, or
// "unknown transfer syntax".
func TransferSyntaxName(ts string) string {
	if info, err := uid.Lookup(ts); err == nil && info.Type == uid.TypeTransferSyntax {
		return info.Name
	}
	return "unknown transfer syntax"
}

// isKnownTransferSyntax reports whether the library knows how the data set
// of a transfer syntax is encoded (byte order and VR), whether or not its
// pixel data can be decoded.
func isKnownTransferSyntax(ts string) bool {
	_, err := uid.CanonicalTransferSyntaxUID(ts)
	return err == nil
}
