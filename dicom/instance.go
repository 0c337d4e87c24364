package dicom

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	godicom "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Instance is one CT slice: a single-frame instance, or one frame of a
// multi-frame (Enhanced CT) instance.
type Instance struct {
	// Path is the file the instance was read from, or the name given to
	// SeriesBuilder.AddReader.
	Path string
	// SOPClassUID and SOPInstanceUID identify the object (a SEG references
	// both; frames of one multi-frame object share them).
	SOPClassUID, SOPInstanceUID string
	// FrameNumber is the 1-based frame of a multi-frame object, 0 for a
	// single-frame one (the ReferencedFrameNumber a SEG then omits).
	FrameNumber int
	// ImagePositionPatient (0020,0032) of the slice (LPS, mm).
	ImagePositionPatient [3]float64
	// ImageOrientationPatient (0020,0037): row then column direction cosines.
	ImageOrientationPatient [6]float64
	// PixelSpacing (0028,0030): row spacing then column spacing (mm).
	PixelSpacing [2]float64
	// SliceThickness (0018,0050), 0 when absent.
	SliceThickness float64
	// InstanceNumber (0020,0013); never used for ordering.
	InstanceNumber int
	// TransferSyntaxUID (0002,0010) of the object.
	TransferSyntaxUID string
	// Format is the pixel layout, Rescale the modality LUT of the frame.
	Format  PixelFormat
	Rescale Rescale
	// ImageType (0008,0008), or FrameType (0008,9007) of the frame.
	ImageType []string

	// slot is the index of the frame's HU in the builder's memory, or -1
	// when the pixels are read from Path on LoadVolume.
	slot int
}

// object is one parsed Part 10 object.
type object struct {
	path              string
	transferSyntax    string
	header            *godicom.Dataset // without pixel data
	sopClass          string
	sopInstance       string
	study, series     string
	frameOfReference  string
	modality          string
	seriesDescription string
	seriesNumber      int
	imageType         []string
	hasPixelData      bool
	structure         structure
	format            PixelFormat
	frames            []Instance
	pixels            *PixelData
}

// parseObject reads one Part 10 object from b. With withPixels the pixel
// data is kept (raw) in o.pixels; otherwise it is skipped. An error with a
// non-nil object means the object was identified but cannot be used.
func parseObject(b []byte, path string, withPixels bool, opts Options) (*object, error) {
	st, err := checkStructure(b, limits{maxInflated: opts.maxInstanceBytes(), maxElements: opts.maxElements()})
	if err != nil {
		var ts ErrUnsupportedTransferSyntax
		if errors.As(err, &ts) {
			return nil, err
		}
		if errors.Is(err, errNotPart10) {
			return nil, ErrMalformed{Path: path, Reason: "not a DICOM Part 10 file (no DICM prefix at byte 128)"}
		}
		return nil, ErrMalformed{Path: path, Reason: "element structure", Err: err}
	}
	popts := []godicom.ParseOption{godicom.AllowMissingMetaElementGroupLength(), godicom.AllowUnknownSpecificCharacterSet()}
	if withPixels {
		popts = append(popts, godicom.SkipProcessingPixelDataValue())
	} else {
		popts = append(popts, godicom.SkipPixelData())
	}
	ds, err := safeParse(b, popts)
	if err != nil {
		return nil, ErrMalformed{Path: path, Reason: "parse", Err: err}
	}
	o := &object{path: path, transferSyntax: st.TransferSyntaxUID, structure: st}
	var pixelEl *godicom.Element
	kept := ds.Elements[:0:0]
	for _, el := range ds.Elements {
		if el.Tag == tag.PixelData {
			pixelEl = el
			continue
		}
		kept = append(kept, el)
	}
	o.header = &godicom.Dataset{Elements: kept}
	o.hasPixelData = pixelEl != nil
	h := o.header
	o.sopClass = str(h, tag.SOPClassUID)
	if o.sopClass == "" {
		o.sopClass = str(h, tag.MediaStorageSOPClassUID)
	}
	o.sopInstance = str(h, tag.SOPInstanceUID)
	o.study = str(h, tag.StudyInstanceUID)
	o.series = str(h, tag.SeriesInstanceUID)
	o.frameOfReference = str(h, tag.FrameOfReferenceUID)
	o.modality = str(h, tag.Modality)
	o.seriesDescription = str(h, tag.SeriesDescription)
	o.seriesNumber, _ = intval(h, tag.SeriesNumber)
	o.imageType = strs(h, tag.ImageType)
	if withPixels && pixelEl != nil {
		info, ok := pixelEl.Value.GetValue().(godicom.PixelDataInfo)
		if !ok {
			return o, ErrMalformed{Path: path, Reason: "Pixel Data (7FE0,0010) has an unexpected value type"}
		}
		o.pixels = &PixelData{Frames: 1}
		if info.IsEncapsulated {
			for _, f := range info.Frames {
				if f != nil {
					o.pixels.Fragments = append(o.pixels.Fragments, f.EncapsulatedData.Data)
				}
			}
		} else {
			o.pixels.Native = info.UnprocessedValueData
			if o.pixels.Native == nil {
				o.pixels.Native = []byte{}
			}
		}
	}
	return o, nil
}

// safeParse runs the library parser, turning a panic on hostile input into
// an error (the structure check removes the known causes; this is the belt
// to its braces).
func safeParse(b []byte, opts []godicom.ParseOption) (ds godicom.Dataset, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser panic: %v", r)
		}
	}()
	return godicom.Parse(bytes.NewReader(b), int64(len(b)), nil, opts...)
}

// missingUIDs lists the identifying UID attributes that are empty.
func (o *object) missingUIDs() []string {
	var miss []string
	if o.study == "" {
		miss = append(miss, "StudyInstanceUID (0020,000D)")
	}
	if o.series == "" {
		miss = append(miss, "SeriesInstanceUID (0020,000E)")
	}
	if o.sopInstance == "" {
		miss = append(miss, "SOPInstanceUID (0008,0018)")
	}
	return miss
}

// readImage fills the pixel format and the per-frame instances of a CT
// object. Errors are typed refusals naming the attribute.
func (o *object) readImage() error {
	h := o.header
	f := PixelFormat{PhotometricInterpretation: str(h, tag.PhotometricInterpretation)}
	for _, req := range []struct {
		t    tag.Tag
		name string
		dst  *int
	}{
		{tag.Rows, "Rows (0028,0010)", &f.Rows},
		{tag.Columns, "Columns (0028,0011)", &f.Columns},
		{tag.BitsAllocated, "BitsAllocated (0028,0100)", &f.BitsAllocated},
	} {
		v, found := intval(h, req.t)
		if !found {
			return ErrInvalidAttribute{Attribute: req.name, Value: "absent", Want: "present in every image", Path: o.path}
		}
		*req.dst = v
	}
	f.SamplesPerPixel = 1
	if v, found := intval(h, tag.SamplesPerPixel); found {
		f.SamplesPerPixel = v
	}
	f.BitsStored = f.BitsAllocated
	if v, found := intval(h, tag.BitsStored); found {
		f.BitsStored = v
	}
	f.HighBit = f.BitsStored - 1
	if v, found := intval(h, tag.HighBit); found {
		f.HighBit = v
	}
	f.PixelRepresentation, _ = intval(h, tag.PixelRepresentation)
	if err := f.validate(o.path); err != nil {
		return err
	}
	if v, found := intval(h, tag.PixelPaddingValue); found {
		f.HasPadding, f.PaddingValue = true, f.normalizeStored(v)
		if lim, found := intval(h, tag.PixelPaddingRangeLimit); found {
			f.HasPaddingRangeLimit, f.PaddingRangeLimit = true, f.normalizeStored(lim)
		}
	}
	o.format = f

	nFrames := 1
	multi := isMultiFrameCTClass(o.sopClass)
	if multi {
		n, found := intval(h, tag.NumberOfFrames)
		if !found || n < 1 || n > MaxFrames {
			return ErrInvalidAttribute{Attribute: "NumberOfFrames (0028,0008)", Value: fmt.Sprint(n),
				Want: fmt.Sprintf("1..%d", MaxFrames), Path: o.path}
		}
		nFrames = n
	}
	// Check the declared frames against the bytes actually present before
	// anything is allocated from Rows, Columns and NumberOfFrames.
	if st := o.structure; st.PixelDataBytes >= 0 {
		if need := int64(nFrames) * int64(f.FrameBytes()); st.PixelDataBytes < need {
			return ErrMalformed{Path: o.path, Reason: fmt.Sprintf(
				"Pixel Data has %d bytes; %d frame(s) of %dx%d at %d bits need %d",
				st.PixelDataBytes, nFrames, f.Columns, f.Rows, f.BitsAllocated, need)}
		}
	} else if st.PixelDataItems >= 0 && st.PixelDataItems-1 < int64(nFrames) {
		return ErrMalformed{Path: o.path, Reason: fmt.Sprintf(
			"encapsulated Pixel Data has %d fragment(s) for %d frame(s)", max(st.PixelDataItems-1, 0), nFrames)}
	}
	if o.pixels != nil {
		o.pixels.Frames = nFrames
	}

	instNo, _ := intval(h, tag.InstanceNumber)
	base := Instance{
		Path: o.path, SOPClassUID: o.sopClass, SOPInstanceUID: o.sopInstance,
		InstanceNumber: instNo, TransferSyntaxUID: o.transferSyntax, Format: f, ImageType: o.imageType, slot: -1,
	}
	if !multi {
		in := base
		if err := frameGeometry(&in, [][]*godicom.Element{h.Elements}, o.path); err != nil {
			return err
		}
		o.frames = []Instance{in}
		return nil
	}
	shared := items(h.Elements, tag.SharedFunctionalGroupsSequence)
	perFrame := items(h.Elements, tag.PerFrameFunctionalGroupsSequence)
	if len(perFrame) != nFrames {
		return ErrInvalidAttribute{Attribute: "PerFrameFunctionalGroupsSequence (5200,9230)",
			Value: fmt.Sprintf("%d items", len(perFrame)), Want: fmt.Sprintf("one item per frame (%d)", nFrames), Path: o.path}
	}
	o.frames = make([]Instance, nFrames)
	for i := range nFrames {
		in := base
		in.FrameNumber = i + 1
		scopes := [][]*godicom.Element{perFrame[i]}
		if len(shared) > 0 {
			scopes = append(scopes, shared[0])
		}
		scopes = append(scopes, h.Elements)
		if err := frameGeometry(&in, scopes, o.path); err != nil {
			return fmt.Errorf("frame %d: %w", i+1, err)
		}
		o.frames[i] = in
	}
	return nil
}

// frameGeometry reads position, orientation, spacing, thickness, rescale
// and frame type from the first scope that has them. A scope is a list of
// elements: a per-frame item, the shared item, then the top level; in a
// functional group item the attributes sit inside their macro sequence.
func frameGeometry(in *Instance, scopes [][]*godicom.Element, path string) error {
	find := func(macro, t tag.Tag) *godicom.Element {
		for _, s := range scopes {
			if el := findIn(s, t); el != nil {
				return el
			}
			for _, it := range items(s, macro) {
				if el := findIn(it, t); el != nil {
					return el
				}
			}
		}
		return nil
	}
	ipp := floats(find(tag.PlanePositionSequence, tag.ImagePositionPatient))
	if len(ipp) != 3 {
		return ErrInvalidAttribute{Attribute: "ImagePositionPatient (0020,0032)", Value: fmt.Sprint(ipp),
			Want: "3 numbers", Path: path}
	}
	iop := floats(find(tag.PlaneOrientationSequence, tag.ImageOrientationPatient))
	if len(iop) != 6 {
		return ErrInvalidAttribute{Attribute: "ImageOrientationPatient (0020,0037)", Value: fmt.Sprint(iop),
			Want: "6 numbers", Path: path}
	}
	ps := floats(find(tag.PixelMeasuresSequence, tag.PixelSpacing))
	if len(ps) != 2 || !(ps[0] > 0) || !(ps[1] > 0) || ps[0] > 1e4 || ps[1] > 1e4 {
		return ErrInvalidAttribute{Attribute: "PixelSpacing (0028,0030)", Value: fmt.Sprint(ps),
			Want: "2 positive numbers (mm)", Path: path}
	}
	copy(in.ImagePositionPatient[:], ipp)
	copy(in.ImageOrientationPatient[:], iop)
	copy(in.PixelSpacing[:], ps)
	if v := floats(find(tag.PixelMeasuresSequence, tag.SliceThickness)); len(v) > 0 {
		in.SliceThickness = v[0]
	}
	in.Rescale = Rescale{Slope: 1}
	if v := floats(find(tag.PixelValueTransformationSequence, tag.RescaleSlope)); len(v) > 0 && v[0] != 0 {
		in.Rescale.Slope = v[0]
	}
	if v := floats(find(tag.PixelValueTransformationSequence, tag.RescaleIntercept)); len(v) > 0 {
		in.Rescale.Intercept = v[0]
	}
	if el := find(tag.CTImageFrameTypeSequence, tag.FrameType); el != nil {
		in.ImageType = elStrings(el)
	}
	for _, v := range append(append(ipp, iop...), in.Rescale.Slope, in.Rescale.Intercept) {
		if !finite(v) {
			return ErrInvalidAttribute{Attribute: "ImagePositionPatient/ImageOrientationPatient/Rescale", Value: fmt.Sprint(v),
				Want: "finite numbers", Path: path}
		}
	}
	return nil
}

// findIn returns the element with tag t among elems (not nested).
func findIn(elems []*godicom.Element, t tag.Tag) *godicom.Element {
	for _, el := range elems {
		if el != nil && el.Tag == t {
			return el
		}
	}
	return nil
}

// items returns the elements of each item of sequence t among elems.
func items(elems []*godicom.Element, t tag.Tag) [][]*godicom.Element {
	el := findIn(elems, t)
	if el == nil || el.Value == nil {
		return nil
	}
	seq, ok := el.Value.GetValue().([]*godicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([][]*godicom.Element, 0, len(seq))
	for _, it := range seq {
		if it == nil {
			continue
		}
		if es, ok := it.GetValue().([]*godicom.Element); ok {
			out = append(out, es)
		}
	}
	return out
}

// elStrings returns the trimmed string values of an element.
func elStrings(el *godicom.Element) []string {
	if el == nil || el.Value == nil {
		return nil
	}
	ss, ok := el.Value.GetValue().([]string)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, strings.Trim(s, " \x00"))
	}
	return out
}

// str returns the first value of a top-level string attribute, trimmed.
func str(ds *godicom.Dataset, t tag.Tag) string {
	ss := elStrings(findIn(ds.Elements, t))
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

// strs returns the values of a top-level string attribute.
func strs(ds *godicom.Dataset, t tag.Tag) []string { return elStrings(findIn(ds.Elements, t)) }

// floats returns the numeric values of an element: DS/IS strings or
// binary integers and floats.
func floats(el *godicom.Element) []float64 {
	if el == nil || el.Value == nil {
		return nil
	}
	switch v := el.Value.GetValue().(type) {
	case []string:
		var out []float64
		for _, s := range v {
			for _, part := range strings.Split(s, "\\") {
				part = strings.Trim(part, " \x00")
				if part == "" {
					continue
				}
				f, err := strconv.ParseFloat(part, 64)
				if err != nil {
					return nil
				}
				out = append(out, f)
			}
		}
		return out
	case []int:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return v
	}
	return nil
}

// intval returns the first value of a top-level integer attribute (US, SS,
// IS ...).
func intval(ds *godicom.Dataset, t tag.Tag) (int, bool) {
	el := findIn(ds.Elements, t)
	if el == nil || el.Value == nil {
		return 0, false
	}
	switch v := el.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0], true
		}
	default:
		fs := floats(el)
		if len(fs) > 0 && finite(fs[0]) && fs[0] >= -1<<31 && fs[0] < 1<<31 {
			return int(fs[0]), true
		}
	}
	return 0, false
}

func finite(v float64) bool { return v == v && v-v == 0 }
