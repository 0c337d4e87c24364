package seg

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dcm "github.com/suyashkumar/dicom"

	"github.com/mhpnet/node/volume"
)

// naiveFrames counts, per segment, the frames Encode must write: every
// slice between the first and last non-empty one, or all slices.
func naiveFrames(lv *volume.LabelVolume, segs []Segment, all bool) (frames, voxels map[int]int) {
	frames, voxels = map[int]int{}, map[int]int{}
	nz := lv.Size[2]
	for _, s := range segs {
		first, last := -1, -1
		for z := 0; z < nz; z++ {
			for y := 0; y < lv.Size[1]; y++ {
				for x := 0; x < lv.Size[0]; x++ {
					if slices.Contains(s.Labels, lv.At(x, y, z)) {
						voxels[s.Number]++
						if first < 0 {
							first = z
						}
						last = z
					}
				}
			}
		}
		switch {
		case first < 0:
			frames[s.Number] = 0
		case all:
			frames[s.Number] = nz
		default:
			frames[s.Number] = last - first + 1
		}
	}
	return frames, voxels
}

func TestEncodeSyntheticReadBack(t *testing.T) {
	tests := []struct {
		name       string
		nx, ny, nz int
		allSlices  bool
	}{
		// 23×38 = 874 bits per frame: frames start mid-byte (874 % 8 = 2).
		{name: "23x38 odd frames", nx: 23, ny: 38, nz: 9},
		{name: "23x38 all slices", nx: 23, ny: 38, nz: 9, allSlices: true},
		// 511×511 = 261121 bits: every frame shifts the bit phase by 1.
		{name: "511x511 odd frames", nx: 511, ny: 511, nz: 6},
		{name: "8x8 byte aligned", nx: 8, ny: 8, nz: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := synthSource(t, tc.nx, tc.ny, tc.nz)
			lv := sphereLabels(t, src.Geometry, true)
			segs := threeSegments(t)
			path, res := encodeFile(t, src, lv, segs, Options{AllSlices: tc.allSlices})

			wantFrames, wantVoxels := naiveFrames(lv, segs, tc.allSlices)
			total := 0
			for _, s := range res.Segments {
				if s.Frames != wantFrames[s.Number] || s.Voxels != wantVoxels[s.Number] {
					t.Errorf("segment %d: %d frames, %d voxels; want %d, %d", s.Number, s.Frames, s.Voxels, wantFrames[s.Number], wantVoxels[s.Number])
				}
				if s.Voxels == 0 {
					t.Errorf("segment %d is empty: the fixture must exercise all three", s.Number)
				}
				total += wantFrames[s.Number]
			}
			if res.Frames != total {
				t.Errorf("Frames = %d, want %d", res.Frames, total)
			}

			// Independent read-back with pydicom.
			rb := pydicomReadback(t, path, src, lv, segs)
			if rb.DiffVoxels != 0 || len(rb.Errors) != 0 {
				t.Errorf("pydicom read-back: %d voxel differences, errors %v", rb.DiffVoxels, rb.Errors)
			}
			if rb.Frames != total {
				t.Errorf("pydicom sees %d frames, want %d", rb.Frames, total)
			}
			for _, s := range segs {
				if got := rb.Voxels[itoa(s.Number)]; got != wantVoxels[s.Number] {
					t.Errorf("pydicom segment %d voxels = %d, want %d", s.Number, got, wantVoxels[s.Number])
				}
			}

			// Our own reader agrees voxel for voxel.
			sg, err := ReadFile(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range segs {
				m, err := sg.Mask(s.Number, src.Geometry)
				if err != nil {
					t.Fatal(err)
				}
				diff := 0
				for i, v := range lv.Labels {
					want := uint8(0)
					if slices.Contains(s.Labels, v) {
						want = 1
					}
					if m.Labels[i] != want {
						diff++
					}
				}
				if diff != 0 {
					t.Errorf("own reader: segment %d differs in %d voxels", s.Number, diff)
				}
			}

			errs, warns := dciodvfy(t, path)
			if len(errs) > 0 {
				t.Errorf("dciodvfy errors:\n%v", errs)
			}
			checkKnownWarnings(t, warns)
			if w := dcmdumpWarnings(t, path); len(w) > 0 {
				t.Errorf("dcmdump warnings: %v", w)
			}
		})
	}
}

func TestEncodeNoTumorKeepsLiver(t *testing.T) {
	src := synthSource(t, 23, 38, 9)
	lv := sphereLabels(t, src.Geometry, false)
	for i, v := range lv.Labels {
		if v == LabelTumor {
			lv.Labels[i] = LabelLiver
		}
	}
	segs, err := NodeSegments("test-1.0")
	if err != nil {
		t.Fatal(err)
	}
	path, res := encodeFile(t, src, lv, segs, Options{})
	if len(res.Segments) != 2 || res.Segments[1].Frames != 0 || res.Segments[1].FirstSlice != -1 {
		t.Fatalf("tumor segment summary = %+v, want described with 0 frames", res.Segments)
	}
	if res.Segments[0].Voxels == 0 || res.Frames != res.Segments[0].Frames {
		t.Fatalf("liver summary %+v, frames %d", res.Segments[0], res.Frames)
	}
	sg, err := ReadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sg.Segments) != 2 || sg.Segments[1].Label != "Liver tumor" {
		t.Errorf("segments read back = %+v, want Liver and Liver tumor", sg.Segments)
	}
	for _, f := range sg.Frames {
		if f.SegmentNumber != 1 {
			t.Errorf("frame of segment %d in a no-tumor SEG", f.SegmentNumber)
		}
	}
	if rb := pydicomReadback(t, path, src, lv, segs); rb.DiffVoxels != 0 || len(rb.Errors) != 0 {
		t.Errorf("pydicom: %d differences, %v", rb.DiffVoxels, rb.Errors)
	}
	errs, _ := dciodvfy(t, path)
	if len(errs) > 0 {
		t.Errorf("dciodvfy errors: %v", errs)
	}
}

func TestEncodeDeterministicUIDs(t *testing.T) {
	src := synthSource(t, 16, 16, 4)
	lv := sphereLabels(t, src.Geometry, false)
	segs, _ := NodeSegments("v1")
	enc := func(src Source, version string) (Result, []byte) {
		var buf bytes.Buffer
		res, err := Encode(context.Background(), &buf, src, lv, segs, Options{ModelVersion: version, ContentTime: fixedTime})
		if err != nil {
			t.Fatal(err)
		}
		return res, buf.Bytes()
	}
	a, ab := enc(src, "v1")
	b, bb := enc(src, "v1")
	if a.SeriesInstanceUID != b.SeriesInstanceUID || a.SOPInstanceUID != b.SOPInstanceUID || !bytes.Equal(ab, bb) {
		t.Errorf("two runs differ: %s/%s vs %s/%s (bytes equal %v)", a.SeriesInstanceUID, a.SOPInstanceUID, b.SeriesInstanceUID, b.SOPInstanceUID, bytes.Equal(ab, bb))
	}
	if want := DerivedUID(src.SeriesInstanceUID, "v1", "series"); a.SeriesInstanceUID != want {
		t.Errorf("SeriesInstanceUID = %s, want %s", a.SeriesInstanceUID, want)
	}
	if a.SeriesInstanceUID == a.SOPInstanceUID {
		t.Error("series and instance UIDs are equal")
	}
	c, _ := enc(src, "v2")
	if c.SeriesInstanceUID == a.SeriesInstanceUID || c.SOPInstanceUID == a.SOPInstanceUID {
		t.Error("a new model version must give new UIDs")
	}
	if a.GeneratedFrameOfReference || a.FrameOfReferenceUID != src.FrameOfReferenceUID {
		t.Errorf("FrameOfReferenceUID = %s (generated %v), want the source's %s", a.FrameOfReferenceUID, a.GeneratedFrameOfReference, src.FrameOfReferenceUID)
	}
	noFoR := src
	noFoR.FrameOfReferenceUID = ""
	d, _ := enc(noFoR, "v1")
	d2, _ := enc(noFoR, "v2")
	if !d.GeneratedFrameOfReference || validUID(d.FrameOfReferenceUID) != nil || d.FrameOfReferenceUID != d2.FrameOfReferenceUID {
		t.Errorf("generated FrameOfReferenceUID %q (flag %v) must be valid and independent of the model version (%q)", d.FrameOfReferenceUID, d.GeneratedFrameOfReference, d2.FrameOfReferenceUID)
	}
}

func TestDerivedUID(t *testing.T) {
	tests := []struct {
		name                  string
		series, version, kind string
	}{
		{"dcmqi series", "1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1", "mhpnet-0.1.0", "series"},
		{"long version", "1.2.3", "a-very-long-model-version-string-with-many-characters", "instance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := DerivedUID(tc.series, tc.version, tc.kind)
			if err := validUID(u); err != nil || len(u) > 64 || u[:5] != "2.25." {
				t.Errorf("DerivedUID = %q (%d chars): %v", u, len(u), err)
			}
			if u != DerivedUID(tc.series, tc.version, tc.kind) {
				t.Error("not deterministic")
			}
			if u == DerivedUID(tc.series, tc.version, tc.kind+"x") {
				t.Error("kind does not enter the UID")
			}
		})
	}
	// Separators keep the fields apart.
	if DerivedUID("1.2", "3", "series") == DerivedUID("1.23", "", "series") {
		t.Error("fields run together")
	}
}

func TestEncodeRefusesBadInput(t *testing.T) {
	base := synthSource(t, 12, 10, 5)
	goodLabels := sphereLabels(t, base.Geometry, false)
	segs, _ := NodeSegments("v1")
	shifted := func(f func(g *volume.Geometry)) *volume.LabelVolume {
		g := base.Geometry
		f(&g)
		lv, err := volume.NewLabelVolume(g)
		if err != nil {
			t.Fatal(err)
		}
		copy(lv.Labels, goodLabels.Labels)
		return lv
	}
	tests := []struct {
		name    string
		src     func(s Source) Source
		labels  *volume.LabelVolume
		segs    []Segment
		opts    Options
		wantErr error
	}{
		{name: "size", labels: shifted(func(g *volume.Geometry) { g.Size[2] = 4 }), wantErr: ErrGeometryMismatch},
		{name: "origin", labels: shifted(func(g *volume.Geometry) { g.Origin[0] += 0.5 }), wantErr: ErrGeometryMismatch},
		{name: "spacing", labels: shifted(func(g *volume.Geometry) { g.Spacing[2] = 2 }), wantErr: ErrGeometryMismatch},
		{name: "direction", labels: shifted(func(g *volume.Geometry) { g.Direction[0], g.Direction[1] = g.Direction[1], g.Direction[0] }), wantErr: ErrGeometryMismatch},
		{name: "nil labels", labels: nil, wantErr: ErrGeometryMismatch},
		{name: "no study UID", src: func(s Source) Source { s.StudyInstanceUID = ""; return s }, wantErr: ErrInvalidSource},
		{name: "bad series UID", src: func(s Source) Source { s.SeriesInstanceUID = "1.02.3"; return s }, wantErr: ErrInvalidSource},
		{name: "slice missing", src: func(s Source) Source { s.Slices = s.Slices[1:]; return s }, wantErr: ErrInvalidSource},
		{name: "slice off grid", src: func(s Source) Source {
			s.Slices = slices.Clone(s.Slices)
			s.Slices[2].ImagePositionPatient[2] += 1
			return s
		}, wantErr: ErrInvalidSource},
		{name: "duplicate slice", src: func(s Source) Source {
			s.Slices = slices.Clone(s.Slices)
			s.Slices[3].SOPInstanceUID = s.Slices[2].SOPInstanceUID
			return s
		}, wantErr: ErrInvalidSource},
		{name: "foreign header element", src: func(s Source) Source {
			s.Header = append(slices.Clone(s.Header), s.Header[0])
			s.Header[len(s.Header)-1] = mustElement(t, "SOPInstanceUID")
			return s
		}, wantErr: ErrInvalidSource},
		{name: "no segments", segs: []Segment{}, wantErr: ErrInvalidSegment},
		{name: "duplicate number", segs: []Segment{segs[0], segs[0]}, wantErr: ErrInvalidSegment},
		{name: "gap in numbers", segs: []Segment{segs[1]}, wantErr: ErrInvalidSegment},
		{name: "all empty", labels: shifted(func(g *volume.Geometry) {}), wantErr: ErrEmpty},
		{name: "no model version", opts: Options{ModelVersion: "-"}, wantErr: ErrInvalidOptions},
		{name: "lower-case content label", opts: Options{ContentLabel: "mhpnet"}, wantErr: ErrInvalidOptions},
		{name: "negative series number", opts: Options{SeriesNumber: -3}, wantErr: ErrInvalidOptions},
		{name: "long description", opts: Options{SeriesDescription: strings.Repeat("d", 65)}, wantErr: ErrInvalidOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := base
			if tc.src != nil {
				src = tc.src(base)
			}
			lv := goodLabels
			if tc.labels != nil || tc.name == "nil labels" {
				lv = tc.labels
			}
			if tc.name == "all empty" {
				clear(lv.Labels)
			}
			s := segs
			if tc.segs != nil {
				s = tc.segs
			}
			opts := tc.opts
			switch opts.ModelVersion {
			case "":
				opts.ModelVersion = "v1"
			case "-":
				opts.ModelVersion = ""
			}
			var buf bytes.Buffer
			_, err := Encode(context.Background(), &buf, src, lv, s, opts)
			if err == nil {
				t.Fatal("Encode succeeded, want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v is not %v", err, tc.wantErr)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written despite the error", buf.Len())
			}
		})
	}
}

func TestEncodeCancelled(t *testing.T) {
	src := synthSource(t, 12, 10, 5)
	lv := sphereLabels(t, src.Geometry, false)
	segs, _ := NodeSegments("v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if _, err := Encode(ctx, &buf, src, lv, segs, Options{ModelVersion: "v1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestDcmdumpCheckCanFail proves the dcmdump check used above sees the
// defect it guards against: the same SEG with two top-level elements
// swapped, as suyashkumar/dicom writes them when they are not sorted.
func TestDcmdumpCheckCanFail(t *testing.T) {
	src := synthSource(t, 8, 8, 3)
	segs, _ := NodeSegments("v1")
	frames := []frameRef{{seg: &segs[0], z: 1}}
	res := Result{SOPInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.4", FrameOfReferenceUID: "1.2.5"}
	ds, err := buildDataset(src, segs, frames, make([]byte, packedLen(64)), res, Options{ModelVersion: "v1", ContentTime: fixedTime}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	n := len(ds.Elements)
	ds.Elements[n-2], ds.Elements[n-3] = ds.Elements[n-3], ds.Elements[n-2]
	var buf bytes.Buffer
	if err := dcm.Write(&buf, ds); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "unsorted.dcm")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	w := dcmdumpWarnings(t, p)
	if len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), "not in ascending tag order") {
		t.Errorf("dcmdump warnings on an unsorted SEG = %v, want the tag order warning", w)
	}
}
