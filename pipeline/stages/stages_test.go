package stages

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb"
	"github.com/mhpnet/node/dicomweb/orthanctest"
	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/pipeline"
	"github.com/mhpnet/node/volume"
)

// TestPACSAgainstOrthanc runs every PACS stage against a real Orthanc
// holding CRLM-CT-1004 (41 axial slices of 5 mm, contrast-enhanced).
func TestPACSAgainstOrthanc(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Orthanc")
	}
	dir := testdata.CT(t, "ct/crlm-ct-1004")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := orthanctest.Start(t, orthanctest.Options{})
	if _, err := srv.UploadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	c, err := dicomweb.New(dicomweb.Options{BaseURL: srv.DICOMwebURL()})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPACS(c, dicom.Options{})
	local, err := dicom.ReadSeries(ctx, dir, dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}

	studies, err := p.ListStudies(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(studies) != 1 || studies[0].StudyInstanceUID != local.StudyInstanceUID || studies[0].Instances != 41 {
		t.Fatalf("studies %+v", studies)
	}
	// A StudyDate window that excludes the 2010-era study finds nothing.
	if recent, err := p.ListStudies(ctx, time.Now().Add(-24*time.Hour)); err != nil || len(recent) != 0 {
		t.Errorf("recent studies %+v (%v)", recent, err)
	}

	series, err := p.ListSeries(ctx, "orthanc", local.StudyInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 {
		t.Fatalf("series %+v", series)
	}
	s := series[0]
	if s.SeriesInstanceUID != local.SeriesInstanceUID || s.Modality != "CT" || s.NumberOfSlices != 41 || s.SliceThickness != 5 ||
		s.SeriesNumber != 2 || s.SeriesDescription != "CT CH/AB/PEL" || s.ContrastBolusAgent == "" || !slices.Contains(s.ImageType, "AXIAL") ||
		!s.Axial() || s.Source != "orthanc" {
		t.Errorf("series attributes %+v", s)
	}

	ref := pipeline.SeriesRef{Source: "orthanc", StudyInstanceUID: local.StudyInstanceUID, SeriesInstanceUID: local.SeriesInstanceUID}
	const mv = "mhpnet-stagetest"
	if got, err := p.FindSEG(ctx, ref, mv); err != nil || got != "" {
		t.Fatalf("FindSEG before = %q, %v", got, err)
	}
	f, err := p.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.LoadVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.Instances != 41 || f.Volume.Size != want.Size || !slices.Equal(f.Volume.HU, want.HU) {
		t.Fatalf("fetched %d instances, size %v; want 41, %v with identical HU", f.Instances, f.Volume.Size, want.Size)
	}

	// A liver-sized box of label 1 with a small tumor, on the CT grid.
	labels, err := volume.NewLabelVolume(f.Volume.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	for z := 10; z < 30; z++ {
		for y := 200; y < 300; y++ {
			for x := 150; x < 250; x++ {
				labels.Labels[labels.Index(x, y, z)] = 1
			}
		}
	}
	labels.Labels[labels.Index(200, 250, 20)] = 2
	enc, err := Encoder{Options: seg.Options{ModelVersion: mv}}.Encode(ctx, f.Series, labels, pipeline.Measurements{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(ctx, local.StudyInstanceUID, enc); err != nil {
		t.Fatal(err)
	}
	got, err := p.FindSEG(ctx, ref, mv)
	if err != nil {
		t.Fatal(err)
	}
	if got != enc.SeriesInstanceUID || got != seg.DerivedUID(local.SeriesInstanceUID, mv, "series") {
		t.Errorf("FindSEG after = %q, want %q", got, enc.SeriesInstanceUID)
	}
	if other, err := p.FindSEG(ctx, ref, "mhpnet-other"); err != nil || other != "" {
		t.Errorf("FindSEG for another model version = %q, %v", other, err)
	}
	// The study now also lists the SEG series; rules see its modality.
	series, err = p.ListSeries(ctx, "orthanc", local.StudyInstanceUID)
	if err != nil || len(series) != 2 {
		t.Fatalf("series after STOW: %+v (%v)", series, err)
	}

	_, err = p.Fetch(ctx, pipeline.SeriesRef{StudyInstanceUID: local.StudyInstanceUID, SeriesInstanceUID: "1.2.3.4.5.6"})
	if !errors.Is(err, pipeline.ErrPermanent) || !errors.Is(err, dicomweb.ErrNotFound) {
		t.Errorf("fetching an unknown series: %v, want a permanent ErrNotFound", err)
	}
}
