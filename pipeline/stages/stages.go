// Package stages holds the real implementations of the pipeline's stage
// interfaces: the PACS (QIDO-RS series and study lists, the idempotency
// check, WADO-RS fetch into a volume, STOW-RS) on package dicomweb and
// package dicom, the MHP-Net segmenter on package segmentation, and the SEG
// encoder on package dicom/seg. cmd/node wires them into pipeline.Worker,
// pipeline.Router and pipeline.Poller; the queue semantics are tested in
// package pipeline with small in-test stages, and these adapters against a
// real Orthanc.
package stages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/pipeline"
	"github.com/mhpnet/node/pipeline/rules"
	"github.com/mhpnet/node/segmentation"
	"github.com/mhpnet/node/volume"
)

// PACS is the node's view of one DICOMweb PACS. It implements
// pipeline.SEGFinder, pipeline.Fetcher[*dicom.Series], pipeline.Storer,
// pipeline.SeriesLister and pipeline.StudyLister.
type PACS struct {
	c    *dicomweb.Client
	read dicom.Options
}

// NewPACS returns the stages on client c; read tunes how retrieved
// instances are decoded (e.g. extra pixel decoders).
func NewPACS(c *dicomweb.Client, read dicom.Options) *PACS { return &PACS{c: c, read: read} }

// FindSEG looks for the SEG series this node would write for ref with
// modelVersion. SEG UIDs are derived from (source series, model version)
// (seg.DerivedUID), so one exact QIDO-RS match answers whether a SEG of
// this model version already references the series.
func (p *PACS) FindSEG(ctx context.Context, ref pipeline.SeriesRef, modelVersion string) (string, error) {
	uid := seg.DerivedUID(ref.SeriesInstanceUID, modelVersion, "series")
	found, err := p.c.SearchSeries(ctx, ref.StudyInstanceUID, dicomweb.Query{Match: map[string]string{"SeriesInstanceUID": uid}})
	if err != nil {
		if errors.Is(err, dicomweb.ErrNotFound) {
			return "", nil // some PACS answer 404 for an empty result
		}
		return "", fmt.Errorf("QIDO-RS for SEG %s of series %s: %w", uid, ref.SeriesInstanceUID, err)
	}
	for _, s := range found {
		if s.SeriesInstanceUID == uid {
			return uid, nil
		}
	}
	return "", nil
}

// Fetch retrieves the series with WADO-RS, streaming each instance into a
// dicom.SeriesBuilder (the series is never held twice), and builds its
// volume. A series the reader refuses (missing slices, gantry tilt, an
// undecodable transfer syntax) is a permanent failure.
func (p *PACS) Fetch(ctx context.Context, ref pipeline.SeriesRef) (pipeline.Fetched[*dicom.Series], error) {
	var out pipeline.Fetched[*dicom.Series]
	b := dicom.NewSeriesBuilder(p.read)
	res, err := p.c.RetrieveSeries(ctx, ref.StudyInstanceUID, ref.SeriesInstanceUID, func(part *dicomweb.Part) error {
		return b.AddReader(ctx, "part-"+strconv.Itoa(part.Index), part)
	})
	if err != nil {
		if errors.Is(err, dicom.ErrRefused) {
			return out, pipeline.Permanent(err)
		}
		if errors.Is(err, dicomweb.ErrNotFound) {
			return out, pipeline.Permanent(fmt.Errorf("series %s is not in the PACS (deleted since it was announced?): %w", ref.SeriesInstanceUID, err))
		}
		return out, fmt.Errorf("WADO-RS series %s: %w", ref.SeriesInstanceUID, err)
	}
	scan := b.Scan()
	s, err := scan.Only()
	if err != nil {
		return out, pipeline.Permanent(fmt.Errorf("series %s (%d parts, transfer syntax %s): %w",
			ref.SeriesInstanceUID, res.Parts, res.TransferSyntax, err))
	}
	v, err := s.LoadVolume(ctx)
	if err != nil {
		if errors.Is(err, dicom.ErrRefused) {
			return out, pipeline.Permanent(err)
		}
		return out, fmt.Errorf("building the volume of series %s: %w", ref.SeriesInstanceUID, err)
	}
	out.Series, out.Volume, out.Instances = s, v, len(s.Instances)
	return out, nil
}

// Store sends the SEG with STOW-RS to its study.
func (p *PACS) Store(ctx context.Context, studyUID string, e pipeline.EncodedSEG) error {
	if _, err := p.c.Store(ctx, studyUID, dicomweb.BytesUpload("seg-"+e.SeriesInstanceUID+".dcm", e.Data)); err != nil {
		if errors.Is(err, dicomweb.ErrStoreFailed) && !errors.Is(err, dicomweb.ErrConflict) {
			// The PACS read the SEG and said no: sending it again will not help.
			return pipeline.Permanent(fmt.Errorf("STOW-RS of SEG %s: %w", e.SeriesInstanceUID, err))
		}
		return fmt.Errorf("STOW-RS of SEG %s: %w", e.SeriesInstanceUID, err)
	}
	return nil
}

// seriesFields are asked for at series level; instanceFields at instance
// level for what many PACS keep only per instance.
var (
	seriesFields   = []string{"SeriesNumber", "Modality", "SeriesDescription", "BodyPartExamined", "ProtocolName", "Manufacturer", "NumberOfSeriesRelatedInstances", "ContrastBolusAgent"}
	instanceFields = []string{"ImageType", "SliceThickness", "ContrastBolusAgent", "ImageOrientationPatient", "BodyPartExamined", "ProtocolName", "Manufacturer"}
)

// Tags by keyword, for reading QIDO results.
const (
	tagImageType               dicomweb.Tag = 0x00080008
	tagManufacturer            dicomweb.Tag = 0x00080070
	tagBodyPartExamined        dicomweb.Tag = 0x00180015
	tagContrastBolusAgent      dicomweb.Tag = 0x00180010
	tagSliceThickness          dicomweb.Tag = 0x00180050
	tagProtocolName            dicomweb.Tag = 0x00181030
	tagImageOrientationPatient dicomweb.Tag = 0x00200037
)

// ListSeries lists the series of a study with the attributes routing rules
// look at: series-level QIDO-RS, completed from one instance of each series
// (ImageType, SliceThickness and often ContrastBolusAgent are per instance).
func (p *PACS) ListSeries(ctx context.Context, source, studyUID string) ([]rules.Series, error) {
	list, err := p.c.SearchSeries(ctx, studyUID, dicomweb.Query{IncludeFields: seriesFields})
	if err != nil {
		return nil, fmt.Errorf("QIDO-RS series of study %s: %w", studyUID, err)
	}
	out := make([]rules.Series, 0, len(list))
	for _, s := range list {
		a := s.Attributes
		rs := rules.Series{
			Source: source, StudyInstanceUID: studyUID, SeriesInstanceUID: s.SeriesInstanceUID,
			SeriesNumber: s.SeriesNumber, Modality: s.Modality, SeriesDescription: s.SeriesDescription,
			BodyPartExamined: a.String(tagBodyPartExamined), ProtocolName: a.String(tagProtocolName),
			Manufacturer: a.String(tagManufacturer), ContrastBolusAgent: a.String(tagContrastBolusAgent),
			NumberOfSlices: s.NumberOfSeriesRelatedInstances,
		}
		if rs.Modality != "SEG" && rs.Modality != "SR" && rs.Modality != "PR" {
			inst, err := p.c.SearchInstances(ctx, studyUID, s.SeriesInstanceUID, dicomweb.Query{IncludeFields: instanceFields, Limit: 1})
			if err != nil {
				return nil, fmt.Errorf("QIDO-RS instances of series %s: %w", s.SeriesInstanceUID, err)
			}
			if len(inst) > 0 {
				fillFromInstance(&rs, inst[0].Attributes)
			}
		}
		out = append(out, rs)
	}
	return out, nil
}

func fillFromInstance(rs *rules.Series, a dicomweb.Dataset) {
	setIfEmpty := func(dst *string, v string) {
		if *dst == "" {
			*dst = strings.TrimSpace(v)
		}
	}
	setIfEmpty(&rs.BodyPartExamined, a.String(tagBodyPartExamined))
	setIfEmpty(&rs.ProtocolName, a.String(tagProtocolName))
	setIfEmpty(&rs.Manufacturer, a.String(tagManufacturer))
	setIfEmpty(&rs.ContrastBolusAgent, a.String(tagContrastBolusAgent))
	if len(rs.ImageType) == 0 {
		rs.ImageType = a.Strings(tagImageType)
	}
	if rs.SliceThickness == 0 {
		if v, ok := a.Float(tagSliceThickness); ok {
			rs.SliceThickness = v
		}
	}
	if e := a.Get(tagImageOrientationPatient); e != nil && len(rs.ImageOrientationPatient) == 0 {
		for _, n := range e.Numbers {
			f, err := n.Float64()
			if err != nil {
				return
			}
			rs.ImageOrientationPatient = append(rs.ImageOrientationPatient, f)
		}
	}
}

// ListStudies lists studies with their instance counts for the poller,
// paging through the results; since limits them by StudyDate.
func (p *PACS) ListStudies(ctx context.Context, since time.Time) ([]pipeline.StudyCount, error) {
	q := dicomweb.Query{IncludeFields: []string{"NumberOfStudyRelatedInstances"}, Limit: 200}
	if !since.IsZero() {
		q.Match = map[string]string{"StudyDate": dicomweb.DateRange{From: since}.String()}
	}
	var out []pipeline.StudyCount
	err := p.c.EachStudy(ctx, q, func(s dicomweb.Study) error {
		out = append(out, pipeline.StudyCount{StudyInstanceUID: s.StudyInstanceUID, Instances: s.NumberOfStudyRelatedInstances})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("QIDO-RS studies: %w", err)
	}
	return out, nil
}

// Ping checks that the PACS answers a minimal QIDO-RS query.
func (p *PACS) Ping(ctx context.Context) error {
	_, err := p.c.SearchStudies(ctx, dicomweb.Query{Limit: 1})
	return err
}

// Model runs MHP-Net. It implements pipeline.Segmenter.
type Model struct {
	m       *segmentation.Model
	version string
}

// NewModel wraps m; its version is ModelVersion(m).
func NewModel(m *segmentation.Model) (*Model, error) {
	v, err := ModelVersion(m)
	if err != nil {
		return nil, err
	}
	return &Model{m: m, version: v}, nil
}

// Version returns the model version used in job ids, SEG UIDs and results.
func (m *Model) Version() string { return m.version }

// ModelVersion names a model by its content: "mhpnet-" and the first 12
// hex digits of the SHA-256 of its file. The same weights always give the
// same version, and any retraining a new one, so a SEG's UIDs say exactly
// which model made it.
func ModelVersion(m *segmentation.Model) (string, error) {
	b, err := m.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("model version: %w", err)
	}
	sum := sha256.Sum256(b)
	return "mhpnet-" + hex.EncodeToString(sum[:6]), nil
}

// Segment runs both stages and converts the measurements. A volume in which
// no liver is found is a permanent failure: storing an empty SEG would say
// "no liver" to a radiologist as if it were a finding.
func (m *Model) Segment(ctx context.Context, v *volume.Volume) (*volume.LabelVolume, pipeline.Measurements, error) {
	r, err := m.m.Segment(ctx, v, segmentation.Options{})
	if err != nil {
		return nil, pipeline.Measurements{}, err
	}
	for _, f := range r.Flags {
		if f == segmentation.FlagNoLiver {
			return nil, pipeline.Measurements{}, pipeline.Permanent(fmt.Errorf("MHP-Net found no liver in this series (flags %v): is it an abdominal CT?", r.Flags))
		}
	}
	ms := pipeline.Measurements{LiverVolumeML: r.Liver.VolumeML, Flags: r.Flags}
	for _, t := range r.Tumors {
		ms.Tumors = append(ms.Tumors, pipeline.Tumor{VolumeML: t.VolumeML, DiameterMM: t.LongestAxialDiameterMM, CentroidLPS: t.CentroidLPS})
	}
	return r.Labels, ms, nil
}

// Encoder writes the SEG. It implements pipeline.Encoder[*dicom.Series].
type Encoder struct {
	// Options are the SEG options; ModelVersion is required.
	Options seg.Options
}

// Encode makes the SEG of labels on s. A result with plausibility flags
// says so in its series and content descriptions.
func (e Encoder) Encode(ctx context.Context, s *dicom.Series, labels *volume.LabelVolume, m pipeline.Measurements) (pipeline.EncodedSEG, error) {
	src, err := seg.SourceFromSeries(s)
	if err != nil {
		return pipeline.EncodedSEG{}, pipeline.Permanent(err)
	}
	segs, err := seg.NodeSegments(e.Options.ModelVersion)
	if err != nil {
		return pipeline.EncodedSEG{}, err
	}
	var buf bytes.Buffer
	res, err := seg.Encode(ctx, &buf, src, labels, segs, e.Options.WithFlags(m.Flags))
	if err != nil {
		if ctx.Err() != nil {
			return pipeline.EncodedSEG{}, err
		}
		return pipeline.EncodedSEG{}, pipeline.Permanent(err)
	}
	return pipeline.EncodedSEG{Data: buf.Bytes(), SeriesInstanceUID: res.SeriesInstanceUID, SOPInstanceUID: res.SOPInstanceUID}, nil
}
