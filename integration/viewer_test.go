// Package integration holds end-to-end tests that run the real pieces
// together: the node binary, a real Orthanc, and (here) the OHIF viewer in
// Debian's headless chromium.
package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/dicomweb/orthanctest"
	"github.com/mhpnet/node/internal/testdata"
)

// The viewer test's installed pieces (scripts/setup.sh installs them).
const (
	chromiumPath   = "/usr/bin/chromium"
	viewerPkgDir   = "viewer"                                    // integration/viewer: package.json, drive.js, app-config.js
	ohifDistRel    = "node_modules/@ohif/app/dist"               // OHIF's published static build
	playwrightRel  = "node_modules/playwright-core/package.json" // the browser driver
	viewerSetupCmd = "scripts/setup.sh (or: apt-get install -y --no-install-recommends chromium fonts-dejavu-core && cd integration/viewer && npm ci)"
)

// Rendered-overlay tolerances. The canvas shows the slice fitted into the
// viewport, s = min(canvas width, height) / rows canvas pixels per image pixel
// along each axis, so a mask of A pixels tints about s*s*A canvas pixels; on
// IRCAD 1.1 the measured tinted area stayed within 35 canvas pixels of that on
// every stepped slice (outline included), for the IRCAD masks and for the
// model's SEG alike. The fitted k (median of tinted / area) must
// be within kTol of s*s, and each slice within a relative margin plus an
// absolute one given in image pixels. Adjacent IRCAD slices differ by only a
// few per cent, so the exact per-slice comparison is done on the labelmap; the
// canvas check proves the labelmap is drawn, at the right scale, and follows
// the slices.
const (
	kTol          = 0.10
	liverRelTol   = 0.03
	liverAbsTol   = 80 // image pixels
	tumorRelTol   = 0.08
	tumorAbsTol   = 60 // image pixels
	noTumorMaxPix = 20 // image pixels
	stepStride    = 6  // canvas check on every 6th slice (+ the ends of each segment); the labelmap check covers every slice
)

// sliceTruth is what one CT slice should show, from the node's SEG decoded by
// this test (not by the node's code): the liver (segment 1, tumors included)
// and the tumor (segment 2), packed 1 bit per pixel, LSB first, row-major,
// like the viewer read-back.
type sliceTruth struct {
	file       string // image_N
	sop        string
	z          float64
	liver      []byte
	tumor      []byte
	liverArea  int
	tumorArea  int
	rows, cols int
}

// mask returns the packed expected mask of segment n (1 Liver, 2 Liver tumor).
func (s *sliceTruth) mask(n int) ([]byte, int) {
	if n == int(seg.LabelTumor) {
		return s.tumor, s.tumorArea
	}
	return s.liver, s.liverArea
}

// readback is drive.js's result.
type readback struct {
	Segs     []segReadback `json:"segs"`
	Timings  map[string]int
	Problems struct {
		ConsoleErrors []string `json:"consoleErrors"`
		PageErrors    []string `json:"pageErrors"`
		HTTPErrors    []string `json:"httpErrors"`
	} `json:"problems"`
	Failed           string `json:"failed"`
	FailedScreenshot string `json:"failedScreenshot"`
}

type segReadback struct {
	SeriesUID         string `json:"seriesUID"`
	Label             string `json:"label"`
	SegmentationID    string `json:"segmentationId"`
	SeriesDescription string `json:"seriesDescription"`
	PromptText        string `json:"promptText"`
	Segments          []struct {
		SegmentIndex int    `json:"segmentIndex"`
		Label        string `json:"label"`
		Color        []int  `json:"color"`
	} `json:"segments"`
	Held []struct {
		Index  int               `json:"index"`
		SOP    string            `json:"sopInstanceUID"`
		IPP    []float64         `json:"ipp"`
		Rows   int               `json:"rows"`
		Cols   int               `json:"columns"`
		Counts map[string]int    `json:"counts"`
		Masks  map[string]string `json:"masks"`
	} `json:"held"`
	Shown []struct {
		Index           int            `json:"index"`
		SOP             string         `json:"sopInstanceUID"`
		Tinted          int            `json:"tinted"`
		TintedBySegment map[string]int `json:"tintedBySegment"`
	} `json:"shown"`
	Canvas      []int          `json:"canvas"`
	Screenshots []string       `json:"screenshots"`
	Timings     map[string]int `json:"timings"`
}

// segToLoad is one SEG that drive.js loads.
type segToLoad struct {
	SeriesUID      string   `json:"seriesUID"`
	Label          string   `json:"label"`
	StepSOPs       []string `json:"stepSOPs"`
	ScreenshotSOPs []string `json:"screenshotSOPs"`
}

// TestViewerOHIFShowsNodeSEG is the end-to-end proof in a real viewer: the
// node's SEG for IRCAD 1.1 (node segment with its embedded MHP-Net model),
// stored next to its CT in a fresh Orthanc, opened in OHIF (published npm
// build) in headless Debian chromium, loaded from its thumbnail and the
// viewer's prompt, and read back: segment labels and colours, the labelmap of
// every slice (pixel-exact against the SEG's frames, decoded by this test),
// and the coloured area on the canvas while stepping through the slices. The
// same SEG with its pixel frames in reverse order (per-frame functional groups
// kept) must fail the same checks.
func TestViewerOHIFShowsNodeSEG(t *testing.T) {
	start := time.Now()
	here, err := os.Getwd() // the package folder: integration/
	if err != nil {
		t.Fatal(err)
	}
	viewerDir := filepath.Join(here, viewerPkgDir)
	distDir := filepath.Join(viewerDir, ohifDistRel)
	nodeJS := requireViewerTools(t, viewerDir, distDir)

	ctDir := testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM")
	artifacts := filepath.Join(here, "artifacts", "viewer")
	if err := os.RemoveAll(artifacts); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tmp := t.TempDir()

	// The node's SEG, through the node's own command and its embedded model,
	// made while a fresh Orthanc starts and takes the CT.
	segPath := filepath.Join(tmp, "node-seg.dcm")
	segDone := make(chan nodeSegment, 1)
	go func() { segDone <- makeNodeSEG(ctx, here, tmp, ctDir, segPath) }()

	srv := orthanctest.Start(t, orthanctest.Options{ExtraConfig: map[string]any{
		"HttpCompressionEnabled": false,
		"DicomWeb": map[string]any{
			"Enable": true, "Root": "/dicom-web/", "EnableWado": true, "WadoRoot": "/wado", "Ssl": false,
			// OHIF needs full metadata (VIEWER.md trap 7).
			"StudiesMetadata": "Full", "SeriesMetadata": "Full",
		},
	}})
	_, uploadErr := srv.UploadDir(ctx, ctDir)
	made := <-segDone // always received, so the node is never left running
	if uploadErr != nil {
		t.Fatalf("upload CT: %v", uploadErr)
	}
	if made.err != nil {
		t.Fatalf("%v\n%s", made.err, made.out)
	}
	t.Logf("node segment (after %.1f s):\n%s", time.Since(start).Seconds(), made.out)

	// The test of the test: the same SEG with its frames' pixels in reverse
	// order, the per-frame functional groups kept, under new UIDs.
	revPath := filepath.Join(tmp, "reversed-seg.dcm")
	good, rev := writeReversedSEG(ctx, t, segPath, revPath)

	truth := readTruth(t, ctDir, segPath)
	t.Logf("expected labelmap from the node's SEG (read by this test): %d slices after %.1f s", len(truth), time.Since(start).Seconds())

	for _, p := range []string{segPath, revPath} {
		if _, err := srv.Upload(ctx, p); err != nil {
			t.Fatalf("upload %s: %v", p, err)
		}
	}
	t.Logf("Orthanc %s holds the CT and both SEGs after %.1f s", srv.URL(), time.Since(start).Seconds())

	// OHIF and Orthanc on one origin.
	web := httptest.NewServer(viewerHandler(t, distDir, filepath.Join(viewerDir, "app-config.js"), srv.URL()))
	defer web.Close()

	bySOP := make(map[string]*sliceTruth, len(truth))
	for _, s := range truth {
		bySOP[s.sop] = s
	}
	goodSteps, shots := stepPlan(truth, stepStride)
	revSteps, _ := stepPlan(truth, len(truth)) // the first slice and the ends of each segment: enough to be caught
	cfg := map[string]any{
		"base": web.URL, "studyUID": good.StudyInstanceUID, "chromium": chromiumPath,
		"userDataDir": filepath.Join(tmp, "chromium-profile"), "outDir": artifacts,
		"timeoutMs": 180000, "result": filepath.Join(tmp, "readback.json"),
		"segs": []segToLoad{
			{SeriesUID: good.SeriesInstanceUID, Label: "node", StepSOPs: goodSteps, ScreenshotSOPs: shots},
			{SeriesUID: rev.SeriesInstanceUID, Label: "reversed", StepSOPs: revSteps, ScreenshotSOPs: shots[:1]},
		},
	}
	rb := runDriver(ctx, t, nodeJS, viewerDir, tmp, cfg)
	t.Logf("browser part: %v (ms)", rb.Timings)

	if len(rb.Problems.PageErrors) > 0 || len(rb.Problems.HTTPErrors) > 0 {
		t.Errorf("the viewer reported page errors %q and failed requests %q", rb.Problems.PageErrors, rb.Problems.HTTPErrors)
	}
	if len(rb.Problems.ConsoleErrors) > 0 {
		t.Logf("console errors (not failures by themselves): %q", rb.Problems.ConsoleErrors)
	}
	if len(rb.Segs) != 2 {
		t.Fatalf("read back %d SEGs, want 2", len(rb.Segs))
	}

	t.Run("node SEG", func(t *testing.T) {
		r := &rb.Segs[0]
		checkSegments(t, r)
		rep := compareReadback(r, truth, bySOP)
		writeSummary(t, filepath.Join(artifacts, "node-summary.json"), r, truth, bySOP, rep)
		for _, p := range rep.problems {
			t.Error(p)
		}
		t.Logf("labelmap: %d slices pixel-exact (%d liver px, %d tumor px in all); canvas: %d slices stepped, "+
			"%.2f canvas px per liver px, %.2f per tumor px; tumor drawn on %d of %d stepped slices with tumor",
			rep.exactSlices, rep.liverTotal, rep.tumorTotal, len(r.Shown), rep.kLiver, rep.kTumor, rep.tumorDrawn, rep.tumorSlices)
		t.Logf("screenshots: %q", r.Screenshots)
	})

	t.Run("reversed frames are caught", func(t *testing.T) {
		r := &rb.Segs[1]
		rep := compareReadback(r, truth, bySOP)
		writeSummary(t, filepath.Join(artifacts, "reversed-summary.json"), r, truth, bySOP, rep)
		if rep.labelmapBad == 0 || rep.canvasBad == 0 {
			t.Fatalf("a SEG with reversed frames passed: %d labelmap slices and %d canvas slices flagged", rep.labelmapBad, rep.canvasBad)
		}
		t.Logf("reversed SEG flagged as it must be: %d of %d slices wrong in the labelmap, %d of %d stepped slices wrong on the canvas; first: %s",
			rep.labelmapBad, len(truth), rep.canvasBad, len(r.Shown), rep.problems[0])
	})
	t.Logf("viewer test took %.1f s", time.Since(start).Seconds())
}

// requireViewerTools fails (never skips) when chromium, node or the npm
// packages are missing, with the command that installs them.
func requireViewerTools(t *testing.T, viewerDir, distDir string) string {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, "Debian chromium ("+chromiumPath+")")
	}
	nodeJS, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Node.js) on PATH")
	}
	if _, err := os.Stat(filepath.Join(distDir, "index.html")); err != nil {
		missing = append(missing, "OHIF's build ("+filepath.Join(viewerDir, ohifDistRel)+")")
	}
	if _, err := os.Stat(filepath.Join(viewerDir, playwrightRel)); err != nil {
		missing = append(missing, "playwright-core ("+filepath.Join(viewerDir, "node_modules")+")")
	}
	if len(missing) > 0 {
		t.Fatalf("the viewer test needs %s; install with %s", strings.Join(missing, ", "), viewerSetupCmd)
	}
	return nodeJS
}

// nodeSegment is the outcome of makeNodeSEG.
type nodeSegment struct {
	out string // node segment's output
	err error
}

// makeNodeSEG builds the node binary from this checkout into tmp and runs
// `node segment --in ctDir --out segPath` (the embedded model). It reports
// instead of failing the test, so that it can run on its own goroutine.
func makeNodeSEG(ctx context.Context, here, tmp, ctDir, segPath string) nodeSegment {
	bin := filepath.Join(tmp, "node")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/node")
	build.Dir = filepath.Dir(here)
	if out, err := build.CombinedOutput(); err != nil {
		return nodeSegment{string(out), fmt.Errorf("go build ./cmd/node: %w", err)}
	}
	out, err := exec.CommandContext(ctx, bin, "segment", "--in", ctDir, "--out", segPath).CombinedOutput()
	if err != nil {
		return nodeSegment{string(out), fmt.Errorf("node segment --in %s --out %s: %w", ctDir, segPath, err)}
	}
	return nodeSegment{out: string(out)}
}

// writeReversedSEG writes a copy of the SEG at src whose pixel frames are in
// reverse order while its per-frame functional groups (segment, source image,
// position) stay as they are, under new Series and SOP Instance UIDs of the
// same length; it returns both SEGs as read back by dicom/seg.
func writeReversedSEG(ctx context.Context, t *testing.T, src, dst string) (good, rev *seg.Segmentation) {
	t.Helper()
	good, err := seg.ReadFile(ctx, src)
	if err != nil {
		t.Fatalf("read the node's SEG: %v", err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	off, n, err := pixelDataValue(raw)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	frameBits := good.Rows * good.Columns
	nf := len(good.Frames)
	if need := (nf*frameBits + 7) / 8; n < need {
		t.Fatalf("PixelData holds %d bytes, %d frames of %d pixels need %d", n, nf, frameBits, need)
	}
	old := raw[off : off+n]
	out := make([]byte, n)
	for f := 0; f < nf; f++ {
		from, to := (nf-1-f)*frameBits, f*frameBits
		for p := 0; p < frameBits; p++ {
			if old[(from+p)>>3]>>((from+p)&7)&1 == 1 {
				out[(to+p)>>3] |= 1 << ((to + p) & 7)
			}
		}
	}
	data := bytes.Clone(raw)
	copy(data[off:off+n], out)
	for _, uid := range []string{good.SeriesInstanceUID, good.SOPInstanceUID} {
		nu := sameLengthUID(uid)
		if c := bytes.Count(data, []byte(uid)); c == 0 {
			t.Fatalf("UID %s not found in the SEG's bytes", uid)
		}
		data = bytes.ReplaceAll(data, []byte(uid), []byte(nu))
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rev, err = seg.ReadFile(ctx, dst)
	if err != nil {
		t.Fatalf("read the reversed SEG back: %v", err)
	}
	first, err := rev.Frame(0)
	if err != nil {
		t.Fatal(err)
	}
	last, err := good.Frame(nf - 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, last) || rev.Frames[0].ReferencedSOPInstanceUID != good.Frames[0].ReferencedSOPInstanceUID ||
		rev.SeriesInstanceUID == good.SeriesInstanceUID || rev.SOPInstanceUID == good.SOPInstanceUID {
		t.Fatal("the reversed SEG is not the node's SEG with its pixel frames reversed under new UIDs")
	}
	return good, rev
}

// pixelDataValue finds the top-level (7FE0,0010) element of an explicit VR
// little endian Part 10 file, which a SEG ends with, and returns its value's
// offset and length.
func pixelDataValue(raw []byte) (off, n int, err error) {
	for _, vr := range []string{"OB", "OW"} {
		hdr := append([]byte{0xE0, 0x7F, 0x10, 0x00}, vr...)
		hdr = append(hdr, 0, 0)
		i := bytes.LastIndex(raw, hdr)
		if i < 0 || i+12 > len(raw) {
			continue
		}
		n := int(binary.LittleEndian.Uint32(raw[i+8:]))
		if i+12+n != len(raw) {
			return 0, 0, fmt.Errorf("PixelData at byte %d (length %d) is not the file's last element (%d bytes)", i, n, len(raw))
		}
		return i + 12, n, nil
	}
	return 0, 0, errors.New("no native PixelData element (OB/OW, defined length) found")
}

// sameLengthUID returns another valid UID of the same length: the last nine
// digits of the last component replaced.
func sameLengthUID(uid string) string {
	i := strings.LastIndexByte(uid, '.')
	last := uid[i+1:]
	if len(last) < 10 {
		return uid[:i+1] + strings.Repeat("9", len(last)-1) + "8"
	}
	tail := "987654321"
	if strings.HasSuffix(last, tail) {
		tail = "123456789"
	}
	return uid[:len(uid)-len(tail)] + tail
}

// readTruth reads the CT's SOP Instance UIDs and positions and the node's SEG
// with the DICOM library directly (not the node's dicom or dicom/seg
// packages): the expected labelmap of each CT slice is what the SEG says, its
// 1-bit frames unpacked here (LSB first) and placed on their slice through the
// ReferencedSOPInstanceUID of their DerivationImageSequence >
// SourceImageSequence, whose position must agree with the frame's
// PlanePositionSequence.
func readTruth(t *testing.T, ctDir, segPath string) []*sliceTruth {
	t.Helper()
	entries, err := os.ReadDir(ctDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []*sliceTruth
	bySOP := map[string]*sliceTruth{}
	ippOf := map[string][]float64{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ds, err := dcm.ParseFile(filepath.Join(ctDir, e.Name()), nil, dcm.SkipPixelData())
		if err != nil {
			t.Fatalf("CT %s: %v", e.Name(), err)
		}
		s := &sliceTruth{file: e.Name(), sop: strValue(t, ds, tag.SOPInstanceUID), rows: intValue(t, ds, tag.Rows), cols: intValue(t, ds, tag.Columns)}
		ipp := floatValues(t, ds, tag.ImagePositionPatient)
		s.z = ipp[2]
		s.liver, s.tumor = make([]byte, (s.rows*s.cols+7)/8), make([]byte, (s.rows*s.cols+7)/8)
		if bySOP[s.sop] != nil {
			t.Fatalf("CT %s repeats SOP Instance UID %s", e.Name(), s.sop)
		}
		bySOP[s.sop], ippOf[s.sop] = s, ipp
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].z < out[j].z })
	if len(out) < 2 {
		t.Fatalf("%s holds %d CT slices", ctDir, len(out))
	}

	ds, err := dcm.ParseFile(segPath, nil, dcm.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatalf("SEG %s: %v", segPath, err)
	}
	rows, cols := intValue(t, ds, tag.Rows), intValue(t, ds, tag.Columns)
	if ba := intValue(t, ds, tag.BitsAllocated); ba != 1 || rows != out[0].rows || cols != out[0].cols {
		t.Fatalf("SEG frames are %dx%d with %d bits allocated, want %dx%d binary", rows, cols, ba, out[0].rows, out[0].cols)
	}
	nf, err := strconv.Atoi(strValue(t, ds, tag.NumberOfFrames))
	if err != nil {
		t.Fatalf("NumberOfFrames: %v", err)
	}
	labels := map[int]string{}
	for _, it := range seqItems(t, ds.Elements, tag.SegmentSequence) {
		labels[intValue(t, dcm.Dataset{Elements: it}, tag.SegmentNumber)] = strValue(t, dcm.Dataset{Elements: it}, tag.SegmentLabel)
	}
	if labels[int(seg.LabelLiver)] != "Liver" || labels[int(seg.LabelTumor)] != "Liver tumor" || len(labels) != 2 {
		t.Fatalf("SEG segments %v, want 1 Liver and 2 Liver tumor", labels)
	}
	frames := seqItems(t, ds.Elements, tag.PerFrameFunctionalGroupsSequence)
	if len(frames) != nf {
		t.Fatalf("SEG has %d per-frame functional groups for %d frames", len(frames), nf)
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatalf("SEG: %v", err)
	}
	px := dcm.MustGetPixelDataInfo(el.Value).UnprocessedValueData
	frameBits := rows * cols
	if need := (nf*frameBits + 7) / 8; len(px) < need {
		t.Fatalf("SEG PixelData holds %d bytes, %d frames of %d pixels need %d", len(px), nf, frameBits, need)
	}
	seen := map[string]bool{}
	for f, groups := range frames {
		fg := dcm.Dataset{Elements: groups}
		segNo := intValue(t, dcm.Dataset{Elements: one(t, seqItems(t, fg.Elements, tag.SegmentIdentificationSequence))}, tag.ReferencedSegmentNumber)
		deriv := one(t, seqItems(t, fg.Elements, tag.DerivationImageSequence))
		src := one(t, seqItems(t, deriv, tag.SourceImageSequence))
		ref := strValue(t, dcm.Dataset{Elements: src}, tag.ReferencedSOPInstanceUID)
		pos := floatValues(t, dcm.Dataset{Elements: one(t, seqItems(t, fg.Elements, tag.PlanePositionSequence))}, tag.ImagePositionPatient)
		s := bySOP[ref]
		if s == nil {
			t.Fatalf("SEG frame %d references %s, not a slice of the CT", f+1, ref)
		}
		for i, v := range ippOf[ref] {
			if math.Abs(pos[i]-v) > 1e-3 {
				t.Fatalf("SEG frame %d is placed at %v, its source slice %s at %v", f+1, pos, s.file, ippOf[ref])
			}
		}
		key := fmt.Sprintf("%d/%s", segNo, ref)
		if seen[key] {
			t.Fatalf("SEG has two frames of segment %d on slice %s", segNo, s.file)
		}
		seen[key] = true
		var dst []byte
		switch segNo {
		case int(seg.LabelLiver):
			dst = s.liver
		case int(seg.LabelTumor):
			dst = s.tumor
		default:
			t.Fatalf("SEG frame %d belongs to segment %d", f+1, segNo)
		}
		base := f * frameBits
		for p := 0; p < frameBits; p++ {
			if px[(base+p)>>3]>>((base+p)&7)&1 == 1 {
				dst[p>>3] |= 1 << (p & 7)
			}
		}
	}
	for _, s := range out {
		for i := range s.liver {
			s.liverArea += bits.OnesCount8(s.liver[i])
			s.tumorArea += bits.OnesCount8(s.tumor[i])
			if s.tumor[i]&^s.liver[i] != 0 {
				t.Errorf("slice %s: the SEG has tumor outside its liver segment", s.file)
				break
			}
		}
	}
	return out
}

// seqItems returns the items of the sequence tg among els (none when absent).
func seqItems(t *testing.T, els []*dcm.Element, tg tag.Tag) [][]*dcm.Element {
	t.Helper()
	for _, el := range els {
		if el.Tag != tg {
			continue
		}
		items, ok := el.Value.GetValue().([]*dcm.SequenceItemValue)
		if !ok {
			t.Fatalf("%v is not a sequence", tg)
		}
		out := make([][]*dcm.Element, 0, len(items))
		for _, it := range items {
			out = append(out, it.GetValue().([]*dcm.Element))
		}
		return out
	}
	return nil
}

// one returns the only item of a sequence.
func one(t *testing.T, items [][]*dcm.Element) []*dcm.Element {
	t.Helper()
	if len(items) != 1 {
		t.Fatalf("sequence has %d items, want 1", len(items))
	}
	return items[0]
}

func strValue(t *testing.T, ds dcm.Dataset, tg tag.Tag) string {
	t.Helper()
	el, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("%v: %v", tg, err)
	}
	v := dcm.MustGetStrings(el.Value)
	if len(v) == 0 {
		t.Fatalf("%v is empty", tg)
	}
	return strings.TrimRight(v[0], " \x00")
}

func intValue(t *testing.T, ds dcm.Dataset, tg tag.Tag) int {
	t.Helper()
	el, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("%v: %v", tg, err)
	}
	v := dcm.MustGetInts(el.Value)
	if len(v) == 0 {
		t.Fatalf("%v is empty", tg)
	}
	return v[0]
}

func floatValues(t *testing.T, ds dcm.Dataset, tg tag.Tag) []float64 {
	t.Helper()
	el, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("%v: %v", tg, err)
	}
	var out []float64
	for _, s := range dcm.MustGetStrings(el.Value) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			t.Fatalf("%v: %v", tg, err)
		}
		out = append(out, f)
	}
	if len(out) != 3 {
		t.Fatalf("%v has %d values, want 3", tg, len(out))
	}
	return out
}

// stepPlan picks the slices to step through on the canvas: every stride-th
// slice, the first and last slice of the liver and of the tumor, a slice just
// outside the liver at each end, and the slice with the largest tumor area;
// screenshots: that slice, then the largest liver slice.
func stepPlan(truth []*sliceTruth, stride int) (steps, shots []string) {
	pick := map[int]bool{}
	firstL, lastL, firstT, lastT, maxT, maxL := -1, -1, -1, -1, 0, 0
	for i, s := range truth {
		if i%stride == 0 {
			pick[i] = true
		}
		if s.liverArea > 0 {
			if firstL < 0 {
				firstL = i
			}
			lastL = i
		}
		if s.tumorArea > 0 {
			if firstT < 0 {
				firstT = i
			}
			lastT = i
		}
		if s.tumorArea > truth[maxT].tumorArea {
			maxT = i
		}
		if s.liverArea > truth[maxL].liverArea {
			maxL = i
		}
	}
	for _, i := range []int{firstL - 1, firstL, lastL, lastL + 1, firstT, lastT, maxT} {
		if i >= 0 && i < len(truth) {
			pick[i] = true
		}
	}
	for i, s := range truth {
		if pick[i] {
			steps = append(steps, s.sop)
		}
	}
	return steps, []string{truth[maxT].sop, truth[maxL].sop}
}

// viewerHandler serves OHIF's dist with an SPA fallback, our app-config.js
// instead of the shipped one, and proxies /dicom-web/ and /wado to Orthanc
// keeping the browser's Host (Orthanc builds BulkDataURIs from it).
func viewerHandler(t *testing.T, dist, appConfig, orthancURL string) http.Handler {
	t.Helper()
	up, err := url.Parse(orthancURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(up)
		r.Out.Host = r.In.Host
	}}
	files := http.FileServer(http.Dir(dist))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/dicom-web/") || strings.HasPrefix(r.URL.Path, "/wado"):
			proxy.ServeHTTP(w, r)
		case r.URL.Path == "/app-config.js":
			http.ServeFile(w, r, appConfig)
		default:
			p := filepath.Join(dist, filepath.FromSlash(filepath.Clean("/"+r.URL.Path)))
			if st, err := os.Stat(p); err != nil || st.IsDir() {
				http.ServeFile(w, r, filepath.Join(dist, "index.html")) // OHIF routes (/viewer) are client-side
				return
			}
			files.ServeHTTP(w, r)
		}
	})
}

// runDriver runs drive.js with cfg and decodes its result.
func runDriver(ctx context.Context, t *testing.T, nodeJS, viewerDir, tmp string, cfg map[string]any) *readback {
	t.Helper()
	cfgPath := filepath.Join(tmp, "drive.json")
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, nodeJS, filepath.Join(viewerDir, "drive.js"), cfgPath)
	cmd.Dir = viewerDir
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	runErr := cmd.Run()
	t.Logf("drive.js:\n%s", logBuf.String())
	var rb readback
	if data, err := os.ReadFile(cfg["result"].(string)); err == nil {
		if err := json.Unmarshal(data, &rb); err != nil {
			t.Fatalf("drive.js result: %v", err)
		}
	}
	if runErr != nil {
		t.Fatalf("drive.js failed (%v): %s; screenshot %s; page errors %q; failed requests %q; console errors %q",
			runErr, rb.Failed, rb.FailedScreenshot, rb.Problems.PageErrors, rb.Problems.HTTPErrors, rb.Problems.ConsoleErrors)
	}
	return &rb
}

// checkSegments asserts the segment list OHIF built from the SEG.
func checkSegments(t *testing.T, r *segReadback) {
	t.Helper()
	if r.PromptText != "Do you want to open this Segmentation?" {
		t.Errorf("viewer prompt %q, want OHIF's SEG prompt", r.PromptText)
	}
	want := map[int]struct {
		label string
		rgb   [3]uint8
	}{1: {"Liver", seg.RGBLiver}, 2: {"Liver tumor", seg.RGBTumor}}
	if len(r.Segments) != len(want) {
		t.Errorf("OHIF lists %d segments, want %d: %+v", len(r.Segments), len(want), r.Segments)
	}
	for _, s := range r.Segments {
		w, ok := want[s.SegmentIndex]
		if !ok {
			t.Errorf("unexpected segment %d %q", s.SegmentIndex, s.Label)
			continue
		}
		if s.Label != w.label {
			t.Errorf("segment %d is labelled %q in OHIF, want %q", s.SegmentIndex, s.Label, w.label)
		}
		if len(s.Color) < 3 {
			t.Errorf("segment %d has colour %v", s.SegmentIndex, s.Color)
			continue
		}
		for c := 0; c < 3; c++ {
			if d := s.Color[c] - int(w.rgb[c]); d < -3 || d > 3 {
				t.Errorf("segment %d %q is drawn in %v, want about %v (RecommendedDisplayCIELabValue)", s.SegmentIndex, s.Label, s.Color[:3], w.rgb)
				break
			}
		}
	}
}

// report is the comparison of one SEG's read-back with the truth.
type report struct {
	problems                []string
	exactSlices             int
	labelmapBad, canvasBad  int
	liverTotal, tumorTotal  int
	kLiver, kTumor          float64
	tumorDrawn, tumorSlices int
	perSlice                []map[string]any
}

// compareReadback checks, for every CT slice, the labelmap OHIF holds against
// the expected masks (pixel-exact), and for the slices stepped through, the tinted
// canvas area against k x the mask area (k fitted over the stepped slices).
func compareReadback(r *segReadback, truth []*sliceTruth, bySOP map[string]*sliceTruth) *report {
	rep := &report{}
	addf := func(format string, a ...any) {
		if len(rep.problems) < 40 {
			rep.problems = append(rep.problems, fmt.Sprintf(format, a...))
		}
	}
	if len(r.Held) != len(truth) {
		addf("OHIF's stack holds %d images, the CT has %d", len(r.Held), len(truth))
	}
	for _, h := range r.Held {
		s := bySOP[h.SOP]
		if s == nil {
			addf("OHIF shows image %s, not in the CT", h.SOP)
			rep.labelmapBad++
			continue
		}
		if len(h.IPP) == 3 && math.Abs(h.IPP[2]-s.z) > 1e-3 {
			addf("slice %s: OHIF places it at z=%.2f, the file at %.2f", s.file, h.IPP[2], s.z)
		}
		bad := false
		for _, n := range []int{int(seg.LabelLiver), int(seg.LabelTumor)} {
			want, wantArea := s.mask(n)
			got := make([]byte, len(want))
			if enc, ok := h.Masks[strconv.Itoa(n)]; ok {
				dec, err := base64.StdEncoding.DecodeString(enc)
				if err != nil || len(dec) < len(want) {
					addf("slice %s segment %d: undecodable mask (%v)", s.file, n, err)
					bad = true
					continue
				}
				got = dec[:len(want)]
			}
			diff := 0
			for i := range want {
				diff += bits.OnesCount8(want[i] ^ got[i])
			}
			if diff != 0 || h.Counts[strconv.Itoa(n)] != wantArea {
				bad = true
				addf("slice %s (z=%.1f): segment %d labelmap has %d px, the mask %d px, %d px differ",
					s.file, s.z, n, h.Counts[strconv.Itoa(n)], wantArea, diff)
			}
		}
		if bad {
			rep.labelmapBad++
		} else {
			rep.exactSlices++
		}
		rep.liverTotal += h.Counts["1"]
		rep.tumorTotal += h.Counts["2"]
	}

	// Canvas: fit k per segment (median of tinted / area over the stepped
	// slices with at least 5% of the largest area), check it against the
	// display scale, then check every stepped slice.
	ratio := func(n int) float64 {
		largest := 0
		for _, sh := range r.Shown {
			if s := bySOP[sh.SOP]; s != nil {
				if _, a := s.mask(n); a > largest {
					largest = a
				}
			}
		}
		var rs []float64
		for _, sh := range r.Shown {
			s := bySOP[sh.SOP]
			if s == nil {
				continue
			}
			if _, a := s.mask(n); a > 0 && a*20 >= largest {
				px := sh.Tinted
				if n == int(seg.LabelTumor) {
					px = sh.TintedBySegment["2"]
				}
				rs = append(rs, float64(px)/float64(a))
			}
		}
		if len(rs) == 0 {
			return 0
		}
		sort.Float64s(rs)
		return rs[len(rs)/2]
	}
	rep.kLiver, rep.kTumor = ratio(int(seg.LabelLiver)), ratio(int(seg.LabelTumor))
	s2 := rep.kLiver // canvas pixels per image pixel
	if len(r.Canvas) == 2 && len(truth) > 0 {
		sc := math.Min(float64(r.Canvas[0]), float64(r.Canvas[1])) / float64(truth[0].rows)
		s2 = sc * sc
		for _, k := range []float64{rep.kLiver, rep.kTumor} {
			if k != 0 && math.Abs(k-s2) > kTol*s2 {
				addf("the overlay covers %.2f canvas px per mask px; a %dx%d canvas shows %.2f canvas px per image px", k, r.Canvas[0], r.Canvas[1], s2)
				rep.canvasBad++
			}
		}
	}
	if len(r.Shown) == 0 {
		addf("no slice was stepped through")
	}
	for _, sh := range r.Shown {
		s := bySOP[sh.SOP]
		if s == nil {
			addf("stepped to %s, not in the CT", sh.SOP)
			rep.canvasBad++
			continue
		}
		bad := false
		wantL := rep.kLiver * float64(s.liverArea)
		if math.Abs(float64(sh.Tinted)-wantL) > liverRelTol*wantL+liverAbsTol*s2 {
			bad = true
			addf("slice %s (z=%.1f): %d tinted canvas px, the liver mask (%d px) predicts %.0f", s.file, s.z, sh.Tinted, s.liverArea, wantL)
		}
		gotT := sh.TintedBySegment["2"]
		if s.tumorArea > 0 {
			rep.tumorSlices++
			if gotT > 0 {
				rep.tumorDrawn++
			}
			wantT := rep.kTumor * float64(s.tumorArea)
			if gotT == 0 || math.Abs(float64(gotT)-wantT) > tumorRelTol*wantT+tumorAbsTol*s2 {
				bad = true
				addf("slice %s (z=%.1f): %d canvas px in the tumor colour, the tumor mask (%d px) predicts %.0f", s.file, s.z, gotT, s.tumorArea, wantT)
			}
		} else if float64(gotT) > noTumorMaxPix*s2 {
			bad = true
			addf("slice %s (z=%.1f): %d canvas px in the tumor colour where the SEG has no tumor", s.file, s.z, gotT)
		}
		if bad {
			rep.canvasBad++
		}
		rep.perSlice = append(rep.perSlice, map[string]any{
			"file": s.file, "z": s.z, "liverArea": s.liverArea, "tumorArea": s.tumorArea,
			"tinted": sh.Tinted, "tintedTumor": gotT})
	}
	return rep
}

// writeSummary saves a per-slice table (no pixel data) as an artifact.
func writeSummary(t *testing.T, path string, r *segReadback, truth []*sliceTruth, bySOP map[string]*sliceTruth, rep *report) {
	t.Helper()
	held := make([]map[string]any, 0, len(r.Held))
	for _, h := range r.Held {
		row := map[string]any{"index": h.Index, "sop": h.SOP, "counts": h.Counts}
		if s := bySOP[h.SOP]; s != nil {
			row["file"], row["z"], row["liverArea"], row["tumorArea"] = s.file, s.z, s.liverArea, s.tumorArea
		}
		held = append(held, row)
	}
	b, err := json.MarshalIndent(map[string]any{
		"series": r.SeriesUID, "description": r.SeriesDescription, "segments": r.Segments, "canvas": r.Canvas,
		"kLiver": rep.kLiver, "kTumor": rep.kTumor, "problems": rep.problems, "labelmap": held, "stepped": rep.perSlice,
		"timingsMs": r.Timings, "screenshots": r.Screenshots, "ctSlices": len(truth),
	}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestViewerCompareCatchesWrongOverlays checks the comparison itself, without
// a browser, on a synthetic 4-slice study: the read-back of a faithful viewer
// passes, and overlays flipped, shifted by one pixel, in reverse slice order,
// or not drawn on the canvas are all flagged.
func TestViewerCompareCatchesWrongOverlays(t *testing.T) {
	const rows, cols = 64, 64
	var truth []*sliceTruth
	for z := 0; z < 5; z++ {
		s := &sliceTruth{file: fmt.Sprintf("image_%d", z), sop: fmt.Sprintf("1.2.3.%d", z), z: 1.6 * float64(z), rows: rows, cols: cols,
			liver: make([]byte, rows*cols/8), tumor: make([]byte, rows*cols/8)}
		for y := 6; y < 30+4*z; y++ { // the liver grows slice by slice, off-centre
			for x := 3; x < 25+3*z; x++ {
				s.liver[(y*cols+x)>>3] |= 1 << ((y*cols + x) & 7)
				s.liverArea++
				if z >= 2 && y >= 10 && y < 14+2*z && x >= 8 && x < 12+2*z {
					s.tumor[(y*cols+x)>>3] |= 1 << ((y*cols + x) & 7)
					s.tumorArea++
				}
			}
		}
		truth = append(truth, s)
	}
	bySOP := map[string]*sliceTruth{}
	for _, s := range truth {
		bySOP[s.sop] = s
	}
	// view builds what a viewer would report when it draws mask m of the
	// truth slice order[i] on slice i, with k canvas pixels per mask pixel.
	view := func(order []int, m func(packed []byte) []byte, k float64) *segReadback {
		r := &segReadback{Canvas: []int{120, 96}} // 1.5 canvas px per image px
		for i, s := range truth {
			src := truth[order[i]]
			liver, tumor := m(src.liver), m(src.tumor)
			nl, nt := 0, 0
			for j := range liver {
				nl += bits.OnesCount8(liver[j])
				nt += bits.OnesCount8(tumor[j])
			}
			h := struct {
				Index  int               `json:"index"`
				SOP    string            `json:"sopInstanceUID"`
				IPP    []float64         `json:"ipp"`
				Rows   int               `json:"rows"`
				Cols   int               `json:"columns"`
				Counts map[string]int    `json:"counts"`
				Masks  map[string]string `json:"masks"`
			}{Index: i, SOP: s.sop, IPP: []float64{0, 0, s.z}, Rows: rows, Cols: cols, Counts: map[string]int{}, Masks: map[string]string{}}
			if nl > 0 {
				h.Counts["1"], h.Masks["1"] = nl, base64.StdEncoding.EncodeToString(liver)
			}
			if nt > 0 {
				h.Counts["2"], h.Masks["2"] = nt, base64.StdEncoding.EncodeToString(tumor)
			}
			r.Held = append(r.Held, h)
			r.Shown = append(r.Shown, struct {
				Index           int            `json:"index"`
				SOP             string         `json:"sopInstanceUID"`
				Tinted          int            `json:"tinted"`
				TintedBySegment map[string]int `json:"tintedBySegment"`
			}{Index: i, SOP: s.sop, Tinted: int(k * float64(nl)), TintedBySegment: map[string]int{"1": int(k * float64(nl-nt)), "2": int(k * float64(nt))}})
		}
		return r
	}
	pixel := func(m func(x, y int) (int, int)) func([]byte) []byte {
		return func(p []byte) []byte {
			out := make([]byte, len(p))
			for y := 0; y < rows; y++ {
				for x := 0; x < cols; x++ {
					if p[(y*cols+x)>>3]>>((y*cols+x)&7)&1 == 1 {
						if sx, sy := m(x, y); sx >= 0 && sx < cols && sy >= 0 && sy < rows {
							out[(sy*cols+sx)>>3] |= 1 << ((sy*cols + sx) & 7)
						}
					}
				}
			}
			return out
		}
	}
	same := pixel(func(x, y int) (int, int) { return x, y })
	inOrder := []int{0, 1, 2, 3, 4}
	for _, tc := range []struct {
		name              string
		r                 *segReadback
		wantLabelmapBad   int
		wantCanvasFlagged bool
	}{
		{"faithful", view(inOrder, same, 2.25), 0, false},
		{"flipped vertically", view(inOrder, pixel(func(x, y int) (int, int) { return x, rows - 1 - y }), 2.25), 5, false},
		{"flipped left-right", view(inOrder, pixel(func(x, y int) (int, int) { return cols - 1 - x, y }), 2.25), 5, false},
		{"shifted one pixel", view(inOrder, pixel(func(x, y int) (int, int) { return x + 1, y }), 2.25), 5, false},
		{"slices reversed", view([]int{4, 3, 2, 1, 0}, same, 2.25), 4, true}, // the middle slice stays right
		{"labelmap held, nothing drawn", view(inOrder, same, 0), 0, true},
		{"drawn at half the scale", view(inOrder, same, 1.1), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := compareReadback(tc.r, truth, bySOP)
			if rep.labelmapBad != tc.wantLabelmapBad {
				t.Errorf("%d labelmap slices flagged, want %d: %q", rep.labelmapBad, tc.wantLabelmapBad, rep.problems)
			}
			if got := rep.canvasBad > 0; got != tc.wantCanvasFlagged {
				t.Errorf("canvas flagged = %v (%d slices, k %.2f), want %v: %q", got, rep.canvasBad, rep.kLiver, tc.wantCanvasFlagged, rep.problems)
			}
			if tc.wantLabelmapBad == 0 && !tc.wantCanvasFlagged && len(rep.problems) > 0 {
				t.Errorf("a faithful viewer was flagged: %q", rep.problems)
			}
		})
	}
}
