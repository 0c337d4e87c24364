package dicomweb

import (
	"fmt"
	"strconv"
)

// Tag is a DICOM attribute tag, group in the high 16 bits.
type Tag uint32

// String gives the tag as DICOM JSON keys it: 8 upper-case hex digits.
func (t Tag) String() string { return fmt.Sprintf("%08X", uint32(t)) }

// ParseTag reads a DICOM JSON key ("0020000D", any case).
func ParseTag(s string) (Tag, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("%w: tag %q is not 8 hex digits", ErrDICOMJSON, s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: tag %q is not 8 hex digits", ErrDICOMJSON, s)
	}
	return Tag(v), nil
}

// Tags this package reads, named by their DICOM keywords (PS3.6).
const (
	SpecificCharacterSet           Tag = 0x00080005
	SOPClassUID                    Tag = 0x00080016
	SOPInstanceUID                 Tag = 0x00080018
	StudyDate                      Tag = 0x00080020
	SeriesDate                     Tag = 0x00080021
	StudyTime                      Tag = 0x00080030
	AccessionNumber                Tag = 0x00080050
	Modality                       Tag = 0x00080060
	ModalitiesInStudy              Tag = 0x00080061
	StudyDescription               Tag = 0x00081030
	SeriesDescription              Tag = 0x0008103E
	FailureReason                  Tag = 0x00081197
	FailedSOPSequence              Tag = 0x00081198
	ReferencedSOPSequence          Tag = 0x00081199
	ReferencedSOPClassUID          Tag = 0x00081150
	ReferencedSOPInstanceUID       Tag = 0x00081155
	RetrieveURL                    Tag = 0x00081190
	WarningReason                  Tag = 0x00081196
	OtherFailuresSequence          Tag = 0x0008119A
	AvailableTransferSyntaxUID     Tag = 0x00083002
	PatientName                    Tag = 0x00100010
	PatientID                      Tag = 0x00100020
	StudyInstanceUID               Tag = 0x0020000D
	SeriesInstanceUID              Tag = 0x0020000E
	StudyID                        Tag = 0x00200010
	SeriesNumber                   Tag = 0x00200011
	InstanceNumber                 Tag = 0x00200013
	NumberOfStudyRelatedSeries     Tag = 0x00201206
	NumberOfStudyRelatedInstances  Tag = 0x00201208
	NumberOfSeriesRelatedInstances Tag = 0x00201209
	NumberOfFrames                 Tag = 0x00280008
	Rows                           Tag = 0x00280010
	Columns                        Tag = 0x00280011
	PixelData                      Tag = 0x7FE00010
)
