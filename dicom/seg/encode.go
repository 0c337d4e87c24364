// Package seg encodes the node's result as a DICOM Segmentation (SEG) and
// reads such files back for tests and round trips. It sits after
// segmentation in the flow (dicomweb -> dicom -> volume -> segmentation ->
// dicom/seg -> dicomweb): it receives the source series description and a
// label volume on the source grid, and returns a Part 10 file that
// dicomweb stores with STOW-RS. The conventions are DESIGN.md §4:
// Segmentation Storage, BINARY, explicit VR little endian, 1-bit pixels
// packed least significant bit first by this package, deterministic UIDs,
// tags sorted at every level.
package seg

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"

	"github.com/mhpnet/node/volume"
)

// UIDs of the SEG (PS3.6 Annex A).
const (
	// SegmentationStorage is the SOP Class UID of a DICOM SEG.
	SegmentationStorage = "1.2.840.10008.5.1.4.1.1.66.4"
	// ExplicitVRLittleEndian is the transfer syntax the node writes.
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
)

// Defaults of Options.
const (
	DefaultSeriesNumber          = 9901
	DefaultSeriesDescription     = "MHP-Net liver and tumor"
	DefaultContentLabel          = "MHPNET"
	DefaultContentDescription    = "MHP-Net automatic liver and liver tumor segmentation"
	DefaultContentCreatorName    = "MHPNET^NODE"
	DefaultManufacturer          = "MHP-Net PACS node project"
	DefaultManufacturerModelName = "MHP-Net PACS node"
	DefaultDeviceSerialNumber    = "mhpnet-node"
)

// Options tunes the SEG; the zero value gives the defaults above, except
// ModelVersion, which is required.
type Options struct {
	// ModelVersion is the version of the model that produced the labels;
	// it enters the derived UIDs and SoftwareVersions. Required.
	ModelVersion string
	// SoftwareVersions is (0018,1020); default "MHP-Net <ModelVersion>".
	SoftwareVersions string
	// SeriesNumber is (0020,0011) of the new series; default 9901.
	SeriesNumber int
	// SeriesDescription is (0008,103E).
	SeriesDescription string
	// ContentLabel (0070,0080, CS), ContentDescription (0070,0081) and
	// ContentCreatorName (0070,0084, PN).
	ContentLabel, ContentDescription, ContentCreatorName string
	// Manufacturer, ManufacturerModelName and DeviceSerialNumber fill the
	// Enhanced General Equipment module (all type 1 in a SEG).
	Manufacturer, ManufacturerModelName, DeviceSerialNumber string
	// AllSlices writes a frame for every source slice of each non-empty
	// segment instead of only the slices between its first and last
	// non-empty slice. Empty segments carry no frames either way.
	AllSlices bool
	// ContentTime is the ContentDate/Time, SeriesDate/Time and
	// InstanceCreationDate/Time; default time.Now().
	ContentTime time.Time
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if o.SeriesNumber == 0 {
		o.SeriesNumber = DefaultSeriesNumber
	}
	def(&o.SoftwareVersions, AlgorithmName+" "+o.ModelVersion)
	def(&o.SeriesDescription, DefaultSeriesDescription)
	def(&o.ContentLabel, DefaultContentLabel)
	def(&o.ContentDescription, DefaultContentDescription)
	def(&o.ContentCreatorName, DefaultContentCreatorName)
	def(&o.Manufacturer, DefaultManufacturer)
	def(&o.ManufacturerModelName, DefaultManufacturerModelName)
	def(&o.DeviceSerialNumber, DefaultDeviceSerialNumber)
	if o.ContentTime.IsZero() {
		o.ContentTime = time.Now()
	}
	return o
}

// validate checks the options against the VRs they are written in.
func (o Options) validate() error {
	if strings.TrimSpace(o.ModelVersion) == "" {
		return &OptionsError{Field: "ModelVersion", Rule: "required: it enters the UIDs and the algorithm identification"}
	}
	if o.SeriesNumber < 1 || o.SeriesNumber > math.MaxInt32 {
		return &OptionsError{Field: "SeriesNumber", Rule: fmt.Sprintf("%d is outside 1..2147483647 (IS)", o.SeriesNumber)}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"SoftwareVersions", o.SoftwareVersions, 64},
		{"SeriesDescription", o.SeriesDescription, 64},
		{"ContentDescription", o.ContentDescription, 64},
		{"ContentCreatorName", o.ContentCreatorName, 64},
		{"Manufacturer", o.Manufacturer, 64},
		{"ManufacturerModelName", o.ManufacturerModelName, 64},
		{"DeviceSerialNumber", o.DeviceSerialNumber, 64},
	} {
		if len(f.v) > f.max || strings.ContainsAny(f.v, "\\\r\n") {
			return &OptionsError{Field: f.name, Rule: fmt.Sprintf("%q must be at most %d characters without backslash or line breaks", f.v, f.max)}
		}
	}
	// ContentLabel is a CS: upper-case letters, digits, space, underscore.
	if len(o.ContentLabel) > 16 || strings.Trim(o.ContentLabel, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ") != "" {
		return &OptionsError{Field: "ContentLabel", Rule: fmt.Sprintf("%q must be at most 16 of A-Z, 0-9, space, underscore (CS)", o.ContentLabel)}
	}
	return nil
}

// SegmentSummary says what the SEG holds for one segment.
type SegmentSummary struct {
	// Number and Label of the segment.
	Number int
	Label  string
	// Voxels is the number of voxels in the segment.
	Voxels int
	// Frames is the number of frames written for it (0 for an empty segment).
	Frames int
	// FirstSlice and LastSlice are the z indices of its first and last
	// non-empty slices; -1 when the segment is empty.
	FirstSlice, LastSlice int
}

// Result describes an encoded SEG.
type Result struct {
	// SeriesInstanceUID and SOPInstanceUID of the SEG.
	SeriesInstanceUID, SOPInstanceUID string
	// FrameOfReferenceUID written in the SEG.
	FrameOfReferenceUID string
	// GeneratedFrameOfReference is true when the source had no
	// FrameOfReferenceUID and the encoder derived one; the caller should
	// log it (the encoder does not log).
	GeneratedFrameOfReference bool
	// Frames is NumberOfFrames.
	Frames int
	// Segments summarises each segment, in SegmentNumber order.
	Segments []SegmentSummary
	// Bytes is the size of the Part 10 file written.
	Bytes int64
}

// frameRef is one frame to write: a segment on a source slice.
type frameRef struct {
	seg    *Segment
	member *[256]byte
	z      int
}

// Encode writes to w a Part 10 DICOM SEG of labels, which must be on the
// source grid, with one segment per entry of segments (each validated as
// NewSegment does). Frames follow segment order, then source slice order.
// Errors satisfy errors.Is against ErrInvalidOptions, ErrInvalidSource,
// ErrInvalidSegment, ErrGeometryMismatch or ErrEmpty (no segment has a
// voxel), or wrap the write or context error.
func Encode(ctx context.Context, w io.Writer, src Source, labels *volume.LabelVolume, segments []Segment, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	if err := src.Validate(); err != nil {
		return Result{}, err
	}
	if labels == nil {
		return Result{}, &GeometryMismatchError{Field: "size", Source: fmt.Sprint(src.Geometry.Size), Labels: "<nil label volume>"}
	}
	if err := checkGrid(src.Geometry, labels.Geometry); err != nil {
		return Result{}, err
	}
	if len(labels.Labels) != labels.Geometry.Len() {
		return Result{}, &GeometryMismatchError{Field: "size", Source: fmt.Sprint(labels.Geometry.Len(), " voxels"), Labels: fmt.Sprint(len(labels.Labels), " voxels")}
	}
	segs, err := checkSegments(segments)
	if err != nil {
		return Result{}, err
	}

	g := src.Geometry
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	plane := nx * ny

	// One pass per segment over the volume: voxels per slice.
	res := Result{
		SeriesInstanceUID: DerivedUID(src.SeriesInstanceUID, opts.ModelVersion, "series"),
		SOPInstanceUID:    DerivedUID(src.SeriesInstanceUID, opts.ModelVersion, "instance"),
	}
	var frames []frameRef
	for i := range segs {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("seg: encode: %w", err)
		}
		s := &segs[i]
		member := memberTable(s.Labels)
		sum := SegmentSummary{Number: s.Number, Label: s.Label, FirstSlice: -1, LastSlice: -1}
		for z := 0; z < nz; z++ {
			n := 0
			for _, v := range labels.Labels[z*plane : (z+1)*plane] {
				n += int(member[v])
			}
			if n > 0 {
				if sum.FirstSlice < 0 {
					sum.FirstSlice = z
				}
				sum.LastSlice = z
				sum.Voxels += n
			}
		}
		if sum.Voxels > 0 {
			lo, hi := sum.FirstSlice, sum.LastSlice
			if opts.AllSlices {
				lo, hi = 0, nz-1
			}
			for z := lo; z <= hi; z++ {
				frames = append(frames, frameRef{seg: s, member: member, z: z})
			}
			sum.Frames = hi - lo + 1
		}
		res.Segments = append(res.Segments, sum)
	}
	if len(frames) == 0 {
		return Result{}, fmt.Errorf("seg: encode series %s: %w", src.SeriesInstanceUID, ErrEmpty)
	}
	res.Frames = len(frames)

	// Pixel data: frames packed back to back, LSB first.
	pixels := make([]byte, packedLen(len(frames)*plane))
	for i, f := range frames {
		if i%32 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, fmt.Errorf("seg: encode: %w", err)
			}
		}
		packBits(pixels, i*plane, labels.Labels[f.z*plane:(f.z+1)*plane], f.member)
	}

	res.FrameOfReferenceUID = src.FrameOfReferenceUID
	if res.FrameOfReferenceUID == "" {
		res.FrameOfReferenceUID = DerivedUID(src.SeriesInstanceUID, "", "frame-of-reference")
		res.GeneratedFrameOfReference = true
	}

	ds, err := buildDataset(src, segs, frames, pixels, res, opts)
	if err != nil {
		return Result{}, fmt.Errorf("seg: encode series %s: %w", src.SeriesInstanceUID, err)
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<16)
	if err := dcm.Write(bw, ds); err != nil {
		return Result{}, fmt.Errorf("seg: write SEG of series %s: %w", src.SeriesInstanceUID, err)
	}
	if err := bw.Flush(); err != nil {
		return Result{}, fmt.Errorf("seg: write SEG of series %s: %w", src.SeriesInstanceUID, err)
	}
	res.Bytes = cw.n
	return res, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// checkSegments validates each segment and the set: unique numbers, sorted.
func checkSegments(segments []Segment) ([]Segment, error) {
	if len(segments) == 0 {
		return nil, &SegmentError{Rule: "at least one segment is required (SegmentSequence is type 1)"}
	}
	out := make([]Segment, 0, len(segments))
	seen := map[int]bool{}
	for _, s := range segments {
		v, err := NewSegment(s)
		if err != nil {
			return nil, err
		}
		if seen[v.Number] {
			return nil, &SegmentError{Number: v.Number, Rule: "SegmentNumber is used twice; numbers must be unique"}
		}
		seen[v.Number] = true
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Segment) int { return a.Number - b.Number })
	// PS3.3 C.8.20.2.5: SegmentNumber shall start at 1 and increase by 1.
	for i, s := range out {
		if s.Number != i+1 {
			return nil, &SegmentError{Number: s.Number, Rule: fmt.Sprintf("SegmentNumbers must run 1, 2, 3 … without gaps (PS3.3 C.8.20.2.5); expected %d", i+1)}
		}
	}
	return out, nil
}

// checkGrid reports whether the label grid is the source grid.
func checkGrid(src, lab volume.Geometry) error {
	if src.Size != lab.Size {
		return &GeometryMismatchError{Field: "size", Source: fmt.Sprint(src.Size), Labels: fmt.Sprint(lab.Size)}
	}
	const mm = 1e-3
	for a := 0; a < 3; a++ {
		if math.Abs(src.Spacing[a]-lab.Spacing[a]) > 1e-4*src.Spacing[a]+1e-6 {
			return &GeometryMismatchError{Field: "spacing", Source: fmt.Sprint(src.Spacing), Labels: fmt.Sprint(lab.Spacing)}
		}
		if !(math.Abs(src.Origin[a]-lab.Origin[a]) <= mm) {
			return &GeometryMismatchError{Field: "origin", Source: fmt.Sprint(src.Origin), Labels: fmt.Sprint(lab.Origin)}
		}
		for c := 0; c < 3; c++ {
			if !(math.Abs(src.Direction[a][c]-lab.Direction[a][c]) <= 1e-4) {
				return &GeometryMismatchError{Field: "direction", Source: fmt.Sprint(src.Direction), Labels: fmt.Sprint(lab.Direction)}
			}
		}
	}
	return nil
}

// builder creates elements and remembers the first error.
type builder struct{ err error }

func (b *builder) el(t tag.Tag, v any) *dcm.Element {
	e, err := dcm.NewElement(t, v)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("element %v: %w", t, err)
	}
	return e
}

func (b *builder) str(t tag.Tag, s ...string) *dcm.Element { return b.el(t, s) }

func (b *builder) code(t tag.Tag, c Code) *dcm.Element {
	return b.el(t, [][]*dcm.Element{{
		b.str(tag.CodeValue, c.CodeValue),
		b.str(tag.CodingSchemeDesignator, c.CodingSchemeDesignator),
		b.str(tag.CodeMeaning, c.CodeMeaning),
	}})
}

func (b *builder) seq(t tag.Tag, items ...[]*dcm.Element) *dcm.Element {
	return b.el(t, items)
}

// buildDataset assembles the SEG dataset, sorted at every level.
func buildDataset(src Source, segs []Segment, frames []frameRef, pixels []byte, res Result, opts Options) (dcm.Dataset, error) {
	b := &builder{}
	g := src.Geometry
	date := opts.ContentTime.Format("20060102")
	tm := opts.ContentTime.Format("150405")
	dimOrg := DerivedUID(src.SeriesInstanceUID, opts.ModelVersion, "dimension-organization")

	els := []*dcm.Element{
		// File Meta Information (PS3.10 7.1).
		b.el(tag.FileMetaInformationVersion, []byte{0, 1}),
		b.str(tag.MediaStorageSOPClassUID, SegmentationStorage),
		b.str(tag.MediaStorageSOPInstanceUID, res.SOPInstanceUID),
		b.str(tag.TransferSyntaxUID, uid.ExplicitVRLittleEndian),
		b.str(tag.ImplementationClassUID, ImplementationClassUID),
		b.str(tag.ImplementationVersionName, ImplementationVersionName),
	}

	// Patient, General Study, Patient Study: copied verbatim; type 2
	// attributes the source lacks are written empty.
	have := map[tag.Tag]bool{}
	for _, e := range src.Header {
		// An empty SpecificCharacterSet means the default repertoire; the
		// attribute is type 1C, so it is left out rather than written empty.
		if e.Tag == tag.StudyInstanceUID || (e.Tag == tag.SpecificCharacterSet && emptyValue(e)) {
			continue
		}
		els = append(els, cloneElement(e))
		have[e.Tag] = true
	}
	for _, t := range []tag.Tag{tag.PatientName, tag.PatientID, tag.PatientBirthDate, tag.PatientSex,
		tag.StudyDate, tag.StudyTime, tag.ReferringPhysicianName, tag.StudyID, tag.AccessionNumber,
		tag.PositionReferenceIndicator} {
		if !have[t] {
			els = append(els, b.str(t))
		}
	}

	els = append(els,
		// SOP Common, General/Segmentation Series, Frame of Reference,
		// Enhanced General Equipment, General Image.
		b.str(tag.SOPClassUID, SegmentationStorage),
		b.str(tag.SOPInstanceUID, res.SOPInstanceUID),
		b.str(tag.InstanceCreationDate, date),
		b.str(tag.InstanceCreationTime, tm),
		b.str(tag.Modality, "SEG"),
		b.str(tag.StudyInstanceUID, src.StudyInstanceUID),
		b.str(tag.SeriesInstanceUID, res.SeriesInstanceUID),
		b.str(tag.SeriesNumber, strconv.Itoa(opts.SeriesNumber)),
		b.str(tag.SeriesDescription, opts.SeriesDescription),
		b.str(tag.SeriesDate, date),
		b.str(tag.SeriesTime, tm),
		b.str(tag.FrameOfReferenceUID, res.FrameOfReferenceUID),
		b.str(tag.Manufacturer, opts.Manufacturer),
		b.str(tag.ManufacturerModelName, opts.ManufacturerModelName),
		b.str(tag.DeviceSerialNumber, opts.DeviceSerialNumber),
		b.str(tag.SoftwareVersions, opts.SoftwareVersions),
		b.str(tag.InstanceNumber, "1"),
		b.str(tag.ContentDate, date),
		b.str(tag.ContentTime, tm),
		// Segmentation Image (PS3.3 C.8.20.2).
		b.str(tag.ImageType, "DERIVED", "PRIMARY"),
		b.str(tag.ContentLabel, opts.ContentLabel),
		b.str(tag.ContentDescription, opts.ContentDescription),
		b.str(tag.ContentCreatorName, opts.ContentCreatorName),
		b.str(tag.SegmentationType, "BINARY"),
		b.str(tag.SegmentsOverlap, segmentsOverlap(segs)),
		b.str(tag.LossyImageCompression, "00"),
		// Image Pixel.
		b.el(tag.SamplesPerPixel, []int{1}),
		b.str(tag.PhotometricInterpretation, "MONOCHROME2"),
		b.el(tag.Rows, []int{g.Size[1]}),
		b.el(tag.Columns, []int{g.Size[0]}),
		b.el(tag.BitsAllocated, []int{1}),
		b.el(tag.BitsStored, []int{1}),
		b.el(tag.HighBit, []int{0}),
		b.el(tag.PixelRepresentation, []int{0}),
		b.str(tag.NumberOfFrames, strconv.Itoa(len(frames))),
		// Multi-frame Dimension (PS3.3 C.7.6.17).
		b.seq(tag.DimensionOrganizationSequence, []*dcm.Element{b.str(tag.DimensionOrganizationUID, dimOrg)}),
		b.seq(tag.DimensionIndexSequence,
			[]*dcm.Element{
				b.str(tag.DimensionOrganizationUID, dimOrg),
				b.el(tag.DimensionIndexPointer, atValue(tag.ReferencedSegmentNumber)),
				b.el(tag.FunctionalGroupPointer, atValue(tag.SegmentIdentificationSequence)),
				b.str(tag.DimensionDescriptionLabel, "ReferencedSegmentNumber"),
			},
			[]*dcm.Element{
				b.str(tag.DimensionOrganizationUID, dimOrg),
				b.el(tag.DimensionIndexPointer, atValue(tag.ImagePositionPatient)),
				b.el(tag.FunctionalGroupPointer, atValue(tag.PlanePositionSequence)),
				b.str(tag.DimensionDescriptionLabel, "ImagePositionPatient"),
			}),
	)

	// SegmentSequence.
	var segItems [][]*dcm.Element
	for _, s := range segs {
		lab := RGBToCIELab(s.RGB)
		item := []*dcm.Element{
			b.el(tag.SegmentNumber, []int{s.Number}),
			b.str(tag.SegmentLabel, s.Label),
			b.code(tag.SegmentedPropertyCategoryCodeSequence, s.Category),
			b.code(tag.SegmentedPropertyTypeCodeSequence, s.Type),
			b.str(tag.SegmentAlgorithmType, string(s.AlgorithmType)),
			b.el(tag.RecommendedDisplayCIELabValue, []int{int(lab[0]), int(lab[1]), int(lab[2])}),
		}
		if s.AnatomicRegion != nil {
			item = append(item, b.code(tag.AnatomicRegionSequence, *s.AnatomicRegion))
		}
		if s.AlgorithmType != AlgorithmManual {
			item = append(item,
				b.str(tag.SegmentAlgorithmName, s.Algorithm.Name),
				b.seq(tag.SegmentationAlgorithmIdentificationSequence, []*dcm.Element{
					b.code(tag.AlgorithmFamilyCodeSequence, s.Algorithm.Family),
					b.str(tag.AlgorithmName, s.Algorithm.Name),
					b.str(tag.AlgorithmVersion, s.Algorithm.Version),
				}))
		}
		segItems = append(segItems, item)
	}
	els = append(els, b.seq(tag.SegmentSequence, segItems...))

	// Common Instance Reference: every source instance, once.
	var refItems [][]*dcm.Element
	seen := map[string]bool{}
	for _, sl := range src.Slices {
		if seen[sl.SOPInstanceUID] {
			continue
		}
		seen[sl.SOPInstanceUID] = true
		refItems = append(refItems, []*dcm.Element{
			b.str(tag.ReferencedSOPClassUID, sl.SOPClassUID),
			b.str(tag.ReferencedSOPInstanceUID, sl.SOPInstanceUID),
		})
	}
	els = append(els, b.seq(tag.ReferencedSeriesSequence, []*dcm.Element{
		b.seq(tag.ReferencedInstanceSequence, refItems...),
		b.str(tag.SeriesInstanceUID, src.SeriesInstanceUID),
	}))

	// Shared functional groups.
	thickness := src.SliceThickness
	if thickness == 0 {
		thickness = g.Spacing[2]
	}
	d := g.Direction
	els = append(els, b.seq(tag.SharedFunctionalGroupsSequence, []*dcm.Element{
		b.seq(tag.PlaneOrientationSequence, []*dcm.Element{
			b.str(tag.ImageOrientationPatient, formatDS(d[0][0]), formatDS(d[0][1]), formatDS(d[0][2]),
				formatDS(d[1][0]), formatDS(d[1][1]), formatDS(d[1][2])),
		}),
		b.seq(tag.PixelMeasuresSequence, []*dcm.Element{
			b.str(tag.SliceThickness, formatDS(thickness)),
			b.str(tag.SpacingBetweenSlices, formatDS(g.Spacing[2])),
			// PixelSpacing is row spacing (between rows, along y) then column spacing.
			b.str(tag.PixelSpacing, formatDS(g.Spacing[1]), formatDS(g.Spacing[0])),
		}),
	}))

	// Per-frame functional groups.
	perFrame := make([][]*dcm.Element, 0, len(frames))
	for _, f := range frames {
		sl := src.Slices[f.z]
		ref := []*dcm.Element{
			b.str(tag.ReferencedSOPClassUID, sl.SOPClassUID),
			b.str(tag.ReferencedSOPInstanceUID, sl.SOPInstanceUID),
			b.str(tag.SpatialLocationsPreserved, "YES"),
			b.code(tag.PurposeOfReferenceCodeSequence, CodeSourceImageForProcessing),
		}
		if sl.FrameNumber > 0 {
			ref = append(ref, b.str(tag.ReferencedFrameNumber, strconv.Itoa(sl.FrameNumber)))
		}
		p := sl.ImagePositionPatient
		perFrame = append(perFrame, []*dcm.Element{
			b.seq(tag.DerivationImageSequence, []*dcm.Element{
				b.seq(tag.SourceImageSequence, ref),
				b.code(tag.DerivationCodeSequence, CodeSegmentation),
			}),
			b.seq(tag.FrameContentSequence, []*dcm.Element{
				b.el(tag.DimensionIndexValues, []int{f.seg.Number, f.z + 1}),
			}),
			b.seq(tag.PlanePositionSequence, []*dcm.Element{
				b.str(tag.ImagePositionPatient, formatDS(p[0]), formatDS(p[1]), formatDS(p[2])),
			}),
			b.seq(tag.SegmentIdentificationSequence, []*dcm.Element{
				b.el(tag.ReferencedSegmentNumber, []int{f.seg.Number}),
			}),
		})
	}
	els = append(els, b.seq(tag.PerFrameFunctionalGroupsSequence, perFrame...))

	// Pixel data: our own LSB-first packing, written as raw OB.
	pd := b.el(tag.PixelData, dcm.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pixels})
	if pd != nil {
		pd.RawValueRepresentation = "OB"
	}
	els = append(els, pd)

	if b.err != nil {
		return dcm.Dataset{}, b.err
	}
	sortElements(els)
	return dcm.Dataset{Elements: els}, nil
}

// segmentsOverlap is SegmentsOverlap (0062,0013): YES when two segments
// share a label value (the liver holds the tumor), NO otherwise.
func segmentsOverlap(segs []Segment) string {
	var owner [256]int
	for _, s := range segs {
		for _, l := range s.Labels {
			if owner[l] != 0 {
				return "YES"
			}
			owner[l] = s.Number
		}
	}
	return "NO"
}

// emptyValue reports whether e holds no non-blank string.
func emptyValue(e *dcm.Element) bool {
	if e.Value == nil {
		return true
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok {
		return false
	}
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// cloneElement copies e and, for a sequence, its items, so that sorting
// the SEG never reorders the caller's header.
func cloneElement(e *dcm.Element) *dcm.Element {
	c := *e
	if e.Value == nil || e.Value.ValueType() != dcm.Sequences {
		return &c
	}
	var its [][]*dcm.Element
	for _, it := range e.Value.GetValue().([]*dcm.SequenceItemValue) {
		var item []*dcm.Element
		for _, x := range it.GetValue().([]*dcm.Element) {
			item = append(item, cloneElement(x))
		}
		its = append(its, item)
	}
	v, err := dcm.NewValue(its)
	if err == nil {
		c.Value = v
	}
	return &c
}

// atValue is an AT value as suyashkumar/dicom writes it: group, element.
func atValue(t tag.Tag) []int { return []int{int(t.Group), int(t.Element)} }

// sortElements sorts elements by tag at every level, as PS3.5 7.1
// requires; suyashkumar/dicom writes them in slice order.
func sortElements(els []*dcm.Element) {
	slices.SortStableFunc(els, func(a, b *dcm.Element) int {
		return compareTags(a.Tag, b.Tag)
	})
	for _, e := range els {
		if e.Value == nil || e.Value.ValueType() != dcm.Sequences {
			continue
		}
		for _, item := range e.Value.GetValue().([]*dcm.SequenceItemValue) {
			sortElements(item.GetValue().([]*dcm.Element))
		}
	}
}

func compareTags(a, b tag.Tag) int {
	if a.Group != b.Group {
		return int(a.Group) - int(b.Group)
	}
	return int(a.Element) - int(b.Element)
}

// formatDS formats v as a Decimal String of at most 16 characters
// (PS3.5 6.2), with the fewest digits that keep it exact up to that limit.
func formatDS(v float64) string {
	if v == 0 || math.Abs(v) < 1e-12 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) <= 16 {
		return s
	}
	for prec := 16; prec > 0; prec-- {
		s = strconv.FormatFloat(v, 'g', prec, 64)
		if len(s) <= 16 {
			return s
		}
	}
	return s
}
