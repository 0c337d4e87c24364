package seg

import (
	"fmt"
	"slices"
	"strings"
)

// Code is a coded concept (PS3.3 Table 8.8-1, Code Sequence Macro).
type Code struct {
	// CodeValue (0008,0100), e.g. "10200004".
	CodeValue string
	// CodingSchemeDesignator (0008,0102), e.g. "SCT" or "DCM".
	CodingSchemeDesignator string
	// CodeMeaning (0008,0104), e.g. "Liver".
	CodeMeaning string
}

func (c Code) validate(what string) error {
	switch {
	case c.CodeValue == "" || c.CodingSchemeDesignator == "" || c.CodeMeaning == "":
		return fmt.Errorf("%s code %+v: CodeValue, CodingSchemeDesignator and CodeMeaning are all required (PS3.3 8.8)", what, c)
	case len(c.CodeValue) > 16:
		return fmt.Errorf("%s code value %q is longer than 16 characters (SH)", what, c.CodeValue)
	case c.CodingSchemeDesignator == "SRT":
		return fmt.Errorf("%s code %q uses the retired scheme SRT; use SCT", what, c.CodeValue)
	case len(c.CodeMeaning) > 64:
		return fmt.Errorf("%s code meaning %q is longer than 64 characters (LO)", what, c.CodeMeaning)
	}
	return nil
}

// Codes used by the node's segments (DESIGN.md §4; PS3.16 CID 7150, 7151,
// 7162, 7203 and DCM 121322).
var (
	// CodeAnatomicalStructure is SCT 91723000, the category of the Liver segment.
	CodeAnatomicalStructure = Code{"91723000", "SCT", "Anatomical Structure"}
	// CodeLiver is SCT 10200004, the type of the Liver segment and the
	// anatomic region of the Liver tumor segment.
	CodeLiver = Code{"10200004", "SCT", "Liver"}
	// CodeMorphologicallyAbnormalStructure is SCT 49755003, the category of the tumor segment.
	CodeMorphologicallyAbnormalStructure = Code{"49755003", "SCT", "Morphologically Abnormal Structure"}
	// CodeNeoplasm is SCT 108369006, the type of the Liver tumor segment.
	CodeNeoplasm = Code{"108369006", "SCT", "Neoplasm"}
	// CodeArtificialIntelligence is DCM 123110 (CID 7162 Surface Processing
	// Algorithm Families). DESIGN.md §4 says 123109, which is "Manual
	// Processing" in PS3.16; 123110 is the code whose meaning is AI.
	CodeArtificialIntelligence = Code{"123110", "DCM", "Artificial Intelligence"}
	// CodeSegmentation is DCM 113076, the DerivationCode of every frame.
	CodeSegmentation = Code{"113076", "DCM", "Segmentation"}
	// CodeSourceImageForProcessing is DCM 121322, the purpose of reference
	// of every SourceImageSequence item.
	CodeSourceImageForProcessing = Code{"121322", "DCM", "Source image for image processing operation"}
)

// SegmentAlgorithmType is the enumerated attribute (0062,0008).
type SegmentAlgorithmType string

// Values of SegmentAlgorithmType (PS3.3 C.8.20.2.3).
const (
	AlgorithmAutomatic     SegmentAlgorithmType = "AUTOMATIC"
	AlgorithmSemiautomatic SegmentAlgorithmType = "SEMIAUTOMATIC"
	AlgorithmManual        SegmentAlgorithmType = "MANUAL"
)

// Algorithm identifies the algorithm that produced a segment
// (SegmentationAlgorithmIdentificationSequence, PS3.3 Table 10-19).
type Algorithm struct {
	// Name is AlgorithmName (0066,0036) and SegmentAlgorithmName (0062,0009).
	Name string
	// Version is AlgorithmVersion (0066,0031): the model version.
	Version string
	// Family is the AlgorithmFamilyCodeSequence (0066,002F) item.
	Family Code
}

// Segment describes one segment of the SEG and which labels of the label
// volume belong to it. Build it with NewSegment so that it is valid.
type Segment struct {
	// Number is SegmentNumber (0062,0004), starting at 1.
	Number int
	// Label is SegmentLabel (0062,0005).
	Label string
	// Category is SegmentedPropertyCategoryCodeSequence (0062,0003).
	Category Code
	// Type is SegmentedPropertyTypeCodeSequence (0062,000F).
	Type Code
	// AnatomicRegion is AnatomicRegionSequence (0008,2218); nil when absent.
	AnatomicRegion *Code
	// AlgorithmType is SegmentAlgorithmType (0062,0008).
	AlgorithmType SegmentAlgorithmType
	// Algorithm identifies the algorithm; required unless AlgorithmType is MANUAL.
	Algorithm Algorithm
	// RGB is the display colour; it is written as
	// RecommendedDisplayCIELabValue (0062,000D).
	RGB [3]uint8
	// Labels lists the label values of the label volume that belong to the
	// segment (e.g. Liver = {1, 2}: tumor voxels are liver too).
	Labels []uint8
}

// NewSegment returns s after checking it against the rules of PS3.3
// C.8.20.2 and this project; the error names the broken rule and satisfies
// errors.Is(err, ErrInvalidSegment).
func NewSegment(s Segment) (Segment, error) {
	fail := func(format string, a ...any) (Segment, error) {
		return Segment{}, &SegmentError{Number: s.Number, Rule: fmt.Sprintf(format, a...)}
	}
	if s.Number < 1 || s.Number > 0xFFFF {
		return fail("SegmentNumber must be in 1..65535 (US), got %d", s.Number)
	}
	if strings.TrimSpace(s.Label) == "" || len(s.Label) > 64 || strings.ContainsAny(s.Label, "\\\r\n") {
		return fail("SegmentLabel must be 1..64 characters without backslash or line breaks (LO), got %q", s.Label)
	}
	if err := s.Category.validate("SegmentedPropertyCategory"); err != nil {
		return fail("%v", err)
	}
	if err := s.Type.validate("SegmentedPropertyType"); err != nil {
		return fail("%v", err)
	}
	if s.AnatomicRegion != nil {
		if err := s.AnatomicRegion.validate("AnatomicRegion"); err != nil {
			return fail("%v", err)
		}
	}
	switch s.AlgorithmType {
	case AlgorithmAutomatic, AlgorithmSemiautomatic:
		a := s.Algorithm
		if strings.TrimSpace(a.Name) == "" || len(a.Name) > 64 {
			return fail("an %s segment needs an AlgorithmName of 1..64 characters (PS3.3 C.8.20.2.3), got %q", s.AlgorithmType, a.Name)
		}
		if strings.TrimSpace(a.Version) == "" || len(a.Version) > 64 {
			return fail("an %s segment needs an AlgorithmVersion of 1..64 characters (PS3.3 Table 10-19), got %q", s.AlgorithmType, a.Version)
		}
		if err := a.Family.validate("AlgorithmFamily"); err != nil {
			return fail("%v", err)
		}
	case AlgorithmManual:
		if s.Algorithm != (Algorithm{}) {
			return fail("a MANUAL segment must not carry algorithm identification (PS3.3 C.8.20.2.3)")
		}
	default:
		return fail("SegmentAlgorithmType must be AUTOMATIC, SEMIAUTOMATIC or MANUAL, got %q", s.AlgorithmType)
	}
	if len(s.Labels) == 0 {
		return fail("a segment needs at least one label value of the label volume")
	}
	for _, l := range s.Labels {
		if l == 0 {
			return fail("label 0 is background and cannot belong to a segment")
		}
	}
	s.Labels = slices.Clone(s.Labels)
	slices.Sort(s.Labels)
	s.Labels = slices.Compact(s.Labels)
	if s.AnatomicRegion != nil {
		c := *s.AnatomicRegion
		s.AnatomicRegion = &c
	}
	return s, nil
}

// Label values of the node's label volumes (DESIGN.md §2: 1 = liver,
// 2 = tumor).
const (
	LabelLiver uint8 = 1
	LabelTumor uint8 = 2
)

// Display colours of the node's segments (sRGB).
var (
	// RGBLiver is Slicer's "liver" colour, the one dcmqi's example uses.
	RGBLiver = [3]uint8{221, 130, 101}
	// RGBTumor is a saturated yellow that stands out on liver and on CT grey.
	RGBTumor = [3]uint8{255, 230, 0}
)

// AlgorithmName is the SegmentAlgorithmName and AlgorithmName of the node.
const AlgorithmName = "MHP-Net"

// NodeSegments returns the two segments of DESIGN.md §4 for a model
// version: 1 Liver (labels 1 and 2, since tumor voxels are liver too) and
// 2 Liver tumor (label 2).
func NodeSegments(modelVersion string) ([]Segment, error) {
	alg := Algorithm{Name: AlgorithmName, Version: modelVersion, Family: CodeArtificialIntelligence}
	liver, err := NewSegment(Segment{
		Number: 1, Label: "Liver",
		Category: CodeAnatomicalStructure, Type: CodeLiver,
		AlgorithmType: AlgorithmAutomatic, Algorithm: alg,
		RGB: RGBLiver, Labels: []uint8{LabelLiver, LabelTumor},
	})
	if err != nil {
		return nil, err
	}
	region := CodeLiver
	tumor, err := NewSegment(Segment{
		Number: 2, Label: "Liver tumor",
		Category: CodeMorphologicallyAbnormalStructure, Type: CodeNeoplasm, AnatomicRegion: &region,
		AlgorithmType: AlgorithmAutomatic, Algorithm: alg,
		RGB: RGBTumor, Labels: []uint8{LabelTumor},
	})
	if err != nil {
		return nil, err
	}
	return []Segment{liver, tumor}, nil
}
