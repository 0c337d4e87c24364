package dicom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// SeriesBuilder groups instances into series as they arrive, from files
// (ReadDir) or from readers (the DICOMweb path, where instances are parts of
// a multipart response). Pixels of a file stay in the file until
// Series.LoadVolume decodes them straight into the volume; pixels of a
// reader are decoded to HU on arrival into one growing buffer per series,
// which LoadVolume reorders in place and hands over as the volume, so a
// series is never held twice. A SeriesBuilder is not safe for concurrent use.
type SeriesBuilder struct {
	opts    Options
	groups  map[string]*group
	order   []string
	skipped []Skipped
	scan    *Scan
}

// group collects the instances of one SeriesInstanceUID.
type group struct {
	uid       string
	first     *object
	instances []Instance
	seen      map[frameKey]bool
	err       error
	store     *frameStore
	lut       *huLUT
	objects   int
}

type frameKey struct {
	sop   string
	frame int
}

// NewSeriesBuilder returns an empty builder.
func NewSeriesBuilder(opts Options) *SeriesBuilder {
	return &SeriesBuilder{opts: opts, groups: map[string]*group{}}
}

// AddFile reads the header of one file; its pixels are read by LoadVolume.
// Files that are not usable CT (non-DICOM, localizers, reports, ...) are
// recorded in Scan().Skipped with the reason; the error is non-nil only when
// the file cannot be read or ctx is done.
func (b *SeriesBuilder) AddFile(ctx context.Context, path string) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("dicom: %w", err)
	}
	if fi.Size() > b.opts.maxInstanceBytes() {
		b.skip(path, fmt.Sprintf("file of %d bytes exceeds the %d-byte instance limit", fi.Size(), b.opts.maxInstanceBytes()))
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("dicom: %w", err)
	}
	b.add(data, path, false)
	return nil
}

// AddReader reads one Part 10 instance from r (at most
// Options.MaxInstanceBytes) and decodes its pixels to HU at once; name
// identifies it in messages (e.g. the SOPInstanceUID or part number).
// Content problems are recorded as for AddFile; the error is non-nil only
// when r fails or ctx is done.
func (b *SeriesBuilder) AddReader(ctx context.Context, name string, r io.Reader) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	limit := b.opts.maxInstanceBytes()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("dicom: reading %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		b.skip(name, fmt.Sprintf("instance exceeds the %d-byte instance limit", limit))
		return nil
	}
	b.add(data, name, true)
	return nil
}

// open refuses additions after Scan and after ctx is done.
func (b *SeriesBuilder) open(ctx context.Context) error {
	if b.scan != nil {
		return errors.New("dicom: SeriesBuilder used after Scan")
	}
	return ctx.Err()
}

func (b *SeriesBuilder) skip(path, reason string) {
	b.skipped = append(b.skipped, Skipped{Path: path, Reason: reason})
}

// add classifies one object and files it under its series.
func (b *SeriesBuilder) add(data []byte, path string, decode bool) {
	o, err := parseObject(data, path, decode, b.opts)
	if err != nil {
		b.skip(path, err.Error())
		return
	}
	if reason := skipReason(o); reason != "" {
		b.skip(path, reason)
		return
	}
	g := b.groups[o.series]
	if g == nil {
		g = &group{uid: o.series, first: o, seen: map[frameKey]bool{}}
		b.groups[o.series] = g
		b.order = append(b.order, o.series)
	}
	g.objects++
	if g.err != nil {
		return
	}
	if miss := o.missingUIDs(); len(miss) > 0 {
		g.err = ErrMissingUID{Tag: miss[0], Others: miss[1:], Path: path}
		return
	}
	if !isCTClass(o.sopClass) || (o.modality != "" && o.modality != "CT") {
		g.err = ErrNotCT{Modality: o.modality, SOPClassUID: o.sopClass}
		return
	}
	if !o.hasPixelData {
		g.err = ErrNoPixelData{SOPInstanceUID: o.sopInstance, Path: path}
		return
	}
	dec, err := b.opts.decoderFor(o.transferSyntax)
	if err != nil {
		g.err = err
		return
	}
	if err := o.readImage(); err != nil {
		g.err = err
		return
	}
	for _, in := range o.frames {
		k := frameKey{in.SOPInstanceUID, in.FrameNumber}
		if g.seen[k] {
			b.skip(path, fmt.Sprintf("SOPInstanceUID %s frame %d already read (same instance twice)", in.SOPInstanceUID, in.FrameNumber))
			return
		}
	}
	if decode {
		err := g.decode(o, dec, b.opts)
		o.pixels = nil // the HU are in the store; g.first must not pin the raw bytes
		if err != nil {
			g.err = err
			return
		}
	}
	for _, in := range o.frames {
		g.seen[frameKey{in.SOPInstanceUID, in.FrameNumber}] = true
	}
	g.instances = append(g.instances, o.frames...)
}

// decode converts every frame of o to HU into the group's store.
func (g *group) decode(o *object, dec Decoder, opts Options) error {
	f := o.format
	sliceLen := f.Rows * f.Columns
	if g.store == nil {
		g.store = &frameStore{sliceLen: sliceLen}
		g.store.reserve(opts.ExpectedFrames)
	}
	if g.store.sliceLen != sliceLen {
		return ErrMixedGeometry{Attribute: "Rows x Columns", First: fmt.Sprint(g.store.sliceLen),
			Other: fmt.Sprint(sliceLen), SOPInstanceUID: o.sopInstance}
	}
	for i := range o.frames {
		raw, err := dec.DecodeFrame(o.pixels, f, i)
		if err != nil {
			return ErrMalformed{Path: o.path, Reason: fmt.Sprintf("decoding frame %d", i+1), Err: err}
		}
		if !g.lut.matches(f, o.frames[i].Rescale) {
			g.lut = newHULUT(f, o.frames[i].Rescale)
		}
		slot, dst := g.store.next()
		if err := g.lut.convert(raw, dst); err != nil {
			g.store.n--
			return ErrMalformed{Path: o.path, Reason: fmt.Sprintf("frame %d", i+1), Err: err}
		}
		o.frames[i].slot = slot
	}
	return nil
}

// skipReason says why an object is not a CT slice to stack, or "".
func skipReason(o *object) string {
	upper := strings.ToUpper(strings.Join(o.imageType, `\`))
	switch {
	case isStructuredReport(o.sopClass) && o.sopClass == XRayRadiationDoseSRStorage:
		return "radiation dose report (X-Ray Radiation Dose SR), not an image"
	case isStructuredReport(o.sopClass):
		return fmt.Sprintf("structured report (%s), not an image", SOPClassName(o.sopClass))
	case isSecondaryCapture(o.sopClass):
		if strings.Contains(strings.ToUpper(o.seriesDescription), "DOSE") {
			return "dose report screen capture (Secondary Capture), not a CT slice"
		}
		return "secondary capture, not a CT slice"
	case o.sopClass == SegmentationStorage:
		return "segmentation (DICOM SEG), a derived object, not an image to segment"
	case !o.hasPixelData && !isCTClass(o.sopClass):
		return fmt.Sprintf("non-image object (%s %s) without pixel data", o.sopClass, SOPClassName(o.sopClass))
	case strings.Contains(upper, "SCREEN SAVE") || strings.Contains(strings.ToUpper(o.seriesDescription), "DOSE REPORT"):
		return fmt.Sprintf("screen capture or dose report (ImageType %s, SeriesDescription %q), not a CT slice",
			strings.Join(o.imageType, `\`), o.seriesDescription)
	case strings.Contains(upper, "LOCALIZER"):
		return fmt.Sprintf("localizer (ImageType %s), not part of the axial stack", strings.Join(o.imageType, `\`))
	}
	return ""
}

// finish validates every group and returns the scan.
func (b *SeriesBuilder) finish() *Scan {
	sc := &Scan{Skipped: slices.Clone(b.skipped)}
	for _, uid := range b.order {
		g := b.groups[uid]
		s := g.series(b.opts)
		if g.err == nil {
			if geom, err := stack(s.Instances); err != nil {
				g.err = err
			} else {
				s.Geometry = geom
			}
		}
		if g.err != nil {
			label := uid
			if label == "" {
				label = "(no SeriesInstanceUID)"
			}
			sc.Refused = append(sc.Refused, Refusal{Series: s, Objects: g.objects, Err: fmt.Errorf("series %s: %w", label, g.err)})
			continue
		}
		sc.Series = append(sc.Series, s)
	}
	return sc
}

// Scan validates what was added and returns the usable series, the refused
// ones with their typed errors, and the skipped files with their reasons.
// Call it after the last Add: later calls return the same Scan, whose
// series own the pixels decoded so far.
func (b *SeriesBuilder) Scan() *Scan {
	if b.scan == nil {
		b.scan = b.finish()
	}
	return b.scan
}

// series builds the Series value of a group (instances unsorted until stack).
func (g *group) series(opts Options) *Series {
	o := g.first
	s := &Series{
		StudyInstanceUID:    o.study,
		SeriesInstanceUID:   o.series,
		FrameOfReferenceUID: o.frameOfReference,
		Modality:            o.modality,
		SOPClassUID:         o.sopClass,
		SeriesDescription:   o.seriesDescription,
		SeriesNumber:        o.seriesNumber,
		TransferSyntaxUID:   o.transferSyntax,
		Instances:           slices.Clone(g.instances),
		Header:              o.header,
		opts:                opts,
		store:               g.store,
	}
	if len(s.Instances) > 0 {
		s.SliceThickness = s.Instances[0].SliceThickness
	}
	return s
}

// maxReserveVoxels bounds what a hint may reserve: 2^28 voxels (512 MiB),
// a 512×512 series of 1,024 slices.
const maxReserveVoxels = 1 << 28

// frameStore holds decoded HU frames, slot after slot, in one buffer.
type frameStore struct {
	sliceLen int
	n        int
	data     []int16
}

// reserve makes room for frames slices (a hint, perhaps from the PACS;
// 0 does nothing and at most maxReserveVoxels are reserved on its word).
func (s *frameStore) reserve(frames int) {
	if frames <= 0 || frames > MaxFrames || frames*s.sliceLen > maxReserveVoxels {
		return
	}
	s.data = slices.Grow(s.data, frames*s.sliceLen-len(s.data))
}

// next returns a new slot and its buffer.
func (s *frameStore) next() (int, []int16) {
	need := (s.n + 1) * s.sliceLen
	if need > cap(s.data) {
		s.data = slices.Grow(s.data[:len(s.data)], need+s.n/2*s.sliceLen-len(s.data))
	}
	s.data = s.data[:need]
	s.n++
	return s.n - 1, s.data[need-s.sliceLen : need]
}
