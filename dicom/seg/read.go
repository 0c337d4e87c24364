package seg

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/volume"
)

// MaxReadBytes bounds the size of a SEG file Read accepts (1 GiB; the
// node's largest SEGs are tens of MB).
const MaxReadBytes = 1 << 30

// ReadFrame is one frame of a SEG read back.
type ReadFrame struct {
	// SegmentNumber is the frame's ReferencedSegmentNumber.
	SegmentNumber int
	// ReferencedSOPInstanceUID is the source instance of its
	// DerivationImage/SourceImage item ("" when absent).
	ReferencedSOPInstanceUID string
	// ReferencedFrameNumber is the source frame for multi-frame sources (0 otherwise).
	ReferencedFrameNumber int
	// ImagePositionPatient is its PlanePosition.
	ImagePositionPatient [3]float64
	// DimensionIndexValues of its FrameContent.
	DimensionIndexValues []int
}

// ReadSegment is one item of SegmentSequence read back.
type ReadSegment struct {
	Number int
	Label  string
}

// Segmentation is a binary SEG decoded by this package. Pixels are
// unpacked on demand from the packed stream, LSB first.
type Segmentation struct {
	SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID, FrameOfReferenceUID string
	// Rows and Columns of every frame.
	Rows, Columns int
	// Segments in file order.
	Segments []ReadSegment
	// ReferencedSeriesInstanceUID and ReferencedInstances come from
	// ReferencedSeriesSequence (first item).
	ReferencedSeriesInstanceUID string
	ReferencedInstances         []string
	// Frames in file order.
	Frames []ReadFrame
	// Dataset is the parsed file without its pixel values.
	Dataset dcm.Dataset
	packed  []byte
}

// ReadFile reads a binary SEG from path (see Read).
func ReadFile(ctx context.Context, path string) (*Segmentation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seg: read: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seg: read %s: %w", path, err)
	}
	s, err := Read(ctx, f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Read parses a Part 10 binary SEG of size bytes, in explicit VR little
// endian, with suyashkumar/dicom after a structure check that bounds every
// allocation by size, leaving the pixel data unprocessed (that library unpacks 1-bit data MSB
// first and refuses frames that are not byte-aligned), and keeps the packed
// bits for Frame. Errors satisfy errors.Is(err, ErrNotSegmentation) when
// the file is not a binary SEG.
func Read(ctx context.Context, r io.Reader, size int64) (*Segmentation, error) {
	if size <= 0 || size > MaxReadBytes {
		return nil, &ReadError{Reason: fmt.Sprintf("size %d bytes is outside 1..%d", size, MaxReadBytes)}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("seg: read: %w", err)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("seg: read: %w", err)
	}
	if err := checkStructure(b); err != nil {
		return nil, &ReadError{Reason: err.Error()}
	}
	ds, err := safeParse(bytes.NewReader(b), size)
	if err != nil {
		return nil, &ReadError{Reason: fmt.Sprintf("parse: %v", err)}
	}
	s := &Segmentation{Dataset: ds}
	if c := str(ds.Elements, tag.SOPClassUID); c != SegmentationStorage {
		return nil, &ReadError{Reason: fmt.Sprintf("SOPClassUID %q is not Segmentation Storage %s", c, SegmentationStorage)}
	}
	if t := str(ds.Elements, tag.SegmentationType); t != "BINARY" {
		return nil, &ReadError{Reason: fmt.Sprintf("SegmentationType %q is not BINARY", t)}
	}
	if b := num(ds.Elements, tag.BitsAllocated); b != 1 {
		return nil, &ReadError{Reason: fmt.Sprintf("BitsAllocated %d is not 1", b)}
	}
	s.SOPInstanceUID = str(ds.Elements, tag.SOPInstanceUID)
	s.SeriesInstanceUID = str(ds.Elements, tag.SeriesInstanceUID)
	s.StudyInstanceUID = str(ds.Elements, tag.StudyInstanceUID)
	s.FrameOfReferenceUID = str(ds.Elements, tag.FrameOfReferenceUID)
	s.Rows, s.Columns = num(ds.Elements, tag.Rows), num(ds.Elements, tag.Columns)
	nframes, err := strconv.Atoi(strings.TrimSpace(str(ds.Elements, tag.NumberOfFrames)))
	if err != nil || nframes < 1 || s.Rows < 1 || s.Columns < 1 {
		return nil, &ReadError{Reason: fmt.Sprintf("NumberOfFrames %q, Rows %d, Columns %d must be positive", str(ds.Elements, tag.NumberOfFrames), s.Rows, s.Columns)}
	}
	for _, it := range items(ds.Elements, tag.SegmentSequence) {
		s.Segments = append(s.Segments, ReadSegment{Number: num(it, tag.SegmentNumber), Label: str(it, tag.SegmentLabel)})
	}
	if rs := items(ds.Elements, tag.ReferencedSeriesSequence); len(rs) > 0 {
		s.ReferencedSeriesInstanceUID = str(rs[0], tag.SeriesInstanceUID)
		for _, it := range items(rs[0], tag.ReferencedInstanceSequence) {
			s.ReferencedInstances = append(s.ReferencedInstances, str(it, tag.ReferencedSOPInstanceUID))
		}
	}
	var shared []*dcm.Element
	if sh := items(ds.Elements, tag.SharedFunctionalGroupsSequence); len(sh) > 0 {
		shared = sh[0]
	}
	perFrame := items(ds.Elements, tag.PerFrameFunctionalGroupsSequence)
	if len(perFrame) != nframes {
		return nil, &ReadError{Reason: fmt.Sprintf("%d per-frame functional group items for NumberOfFrames %d", len(perFrame), nframes)}
	}
	for i, pf := range perFrame {
		f := ReadFrame{}
		group := func(t tag.Tag) []*dcm.Element {
			if it := items(pf, t); len(it) > 0 {
				return it[0]
			}
			if it := items(shared, t); len(it) > 0 {
				return it[0]
			}
			return nil
		}
		f.SegmentNumber = num(group(tag.SegmentIdentificationSequence), tag.ReferencedSegmentNumber)
		if d := group(tag.DerivationImageSequence); d != nil {
			if src := items(d, tag.SourceImageSequence); len(src) > 0 {
				f.ReferencedSOPInstanceUID = str(src[0], tag.ReferencedSOPInstanceUID)
				f.ReferencedFrameNumber, _ = strconv.Atoi(strings.TrimSpace(str(src[0], tag.ReferencedFrameNumber)))
			}
		}
		ipp := strs(group(tag.PlanePositionSequence), tag.ImagePositionPatient)
		if len(ipp) != 3 {
			return nil, &ReadError{Reason: fmt.Sprintf("frame %d: ImagePositionPatient has %d values, want 3", i+1, len(ipp))}
		}
		for c := range 3 {
			v, err := strconv.ParseFloat(strings.TrimSpace(ipp[c]), 64)
			if err != nil {
				return nil, &ReadError{Reason: fmt.Sprintf("frame %d: ImagePositionPatient %q: %v", i+1, ipp, err)}
			}
			f.ImagePositionPatient[c] = v
		}
		if fc := group(tag.FrameContentSequence); fc != nil {
			f.DimensionIndexValues = ints(fc, tag.DimensionIndexValues)
		}
		s.Frames = append(s.Frames, f)
	}
	pd, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, &ReadError{Reason: "no PixelData"}
	}
	info, ok := pd.Value.GetValue().(dcm.PixelDataInfo)
	if !ok || !info.IntentionallyUnprocessed {
		return nil, &ReadError{Reason: "PixelData is encapsulated or was processed; a binary SEG in a native transfer syntax is expected"}
	}
	s.packed = info.UnprocessedValueData
	need := (nframes*s.Rows*s.Columns + 7) / 8
	if len(s.packed) < need {
		return nil, &ReadError{Reason: fmt.Sprintf("PixelData has %d bytes, %d frames of %dx%d need %d", len(s.packed), nframes, s.Rows, s.Columns, need)}
	}
	// Drop the pixel bytes from the dataset copy: Segmentation keeps them once.
	pd.Value, _ = dcm.NewValue(dcm.PixelDataInfo{IntentionallySkipped: true})
	return s, nil
}

// safeParse parses with suyashkumar/dicom, turning a panic of the library
// on malformed input into an error.
func safeParse(r io.Reader, size int64) (ds dcm.Dataset, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed DICOM (parser panic: %v)", p)
		}
	}()
	return dcm.Parse(r, size, nil, dcm.SkipProcessingPixelDataValue())
}

// PackedPixelData returns the raw PixelData bytes as stored.
func (s *Segmentation) PackedPixelData() []byte { return bytes.Clone(s.packed) }

// Frame returns frame i (0-based) unpacked LSB first: one byte per pixel,
// 0 or 1, rows after rows.
func (s *Segmentation) Frame(i int) ([]uint8, error) {
	if i < 0 || i >= len(s.Frames) {
		return nil, fmt.Errorf("seg: frame %d out of range 0..%d", i, len(s.Frames)-1)
	}
	n := s.Rows * s.Columns
	out := make([]uint8, n)
	unpackBits(out, s.packed, i*n)
	return out, nil
}

// Mask rebuilds segment number's mask on geometry g, placing each of its
// frames on the slice whose position matches its ImagePositionPatient
// (within 1% of the slice spacing). Voxels are 1 inside the segment.
func (s *Segmentation) Mask(number int, g volume.Geometry) (*volume.LabelVolume, error) {
	if g.Size[0] != s.Columns || g.Size[1] != s.Rows {
		return nil, &GeometryMismatchError{Field: "size", Source: fmt.Sprintf("%dx%d", g.Size[0], g.Size[1]), Labels: fmt.Sprintf("%dx%d frames", s.Columns, s.Rows)}
	}
	lv, err := volume.NewLabelVolume(g)
	if err != nil {
		return nil, fmt.Errorf("seg: mask: %w", err)
	}
	plane := s.Rows * s.Columns
	for i, f := range s.Frames {
		if f.SegmentNumber != number {
			continue
		}
		v := g.PatientToVoxel(f.ImagePositionPatient)
		z := int(math.Round(v[2]))
		if math.Abs(v[0]) > 0.01 || math.Abs(v[1]) > 0.01 || math.Abs(v[2]-float64(z)) > 0.01 || z < 0 || z >= g.Size[2] {
			return nil, &GeometryMismatchError{Field: "origin", Source: fmt.Sprint(g.Origin), Labels: fmt.Sprintf("frame %d at %v (voxel %v)", i+1, f.ImagePositionPatient, v)}
		}
		unpackBits(lv.Labels[z*plane:(z+1)*plane], s.packed, i*plane)
	}
	return lv, nil
}

func find(els []*dcm.Element, t tag.Tag) *dcm.Element {
	for _, e := range els {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

func strs(els []*dcm.Element, t tag.Tag) []string {
	if e := find(els, t); e != nil && e.Value != nil {
		if v, ok := e.Value.GetValue().([]string); ok {
			return v
		}
	}
	return nil
}

func str(els []*dcm.Element, t tag.Tag) string {
	if v := strs(els, t); len(v) > 0 {
		return strings.TrimRight(v[0], " \x00")
	}
	return ""
}

func ints(els []*dcm.Element, t tag.Tag) []int {
	if e := find(els, t); e != nil && e.Value != nil {
		if v, ok := e.Value.GetValue().([]int); ok {
			return v
		}
	}
	return nil
}

func num(els []*dcm.Element, t tag.Tag) int {
	if v := ints(els, t); len(v) > 0 {
		return v[0]
	}
	return 0
}

func items(els []*dcm.Element, t tag.Tag) [][]*dcm.Element {
	e := find(els, t)
	if e == nil || e.Value == nil || e.Value.ValueType() != dcm.Sequences {
		return nil
	}
	var out [][]*dcm.Element
	for _, it := range e.Value.GetValue().([]*dcm.SequenceItemValue) {
		out = append(out, it.GetValue().([]*dcm.Element))
	}
	return out
}
