package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mhpnet/node/dicomweb/orthanctest"
	"github.com/mhpnet/node/internal/testdata"
)

// One Orthanc serves every test of this package that needs one: it is
// started on first use and stopped by TestMain (start ~0.3 s, stop ~2.7
// s, the IRCAD upload several seconds: doing it once keeps the package
// well under a minute).
var sharedOrthanc struct {
	once sync.Once
	srv  *orthanctest.Server
	err  error

	mu      sync.Mutex
	uploads map[string]*uploadedSeries // by data folder
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedOrthanc.srv != nil {
		if err := sharedOrthanc.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

func orthanc(t testing.TB) *orthanctest.Server {
	t.Helper()
	sharedOrthanc.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sharedOrthanc.srv, sharedOrthanc.err = orthanctest.Launch(ctx, orthanctest.Options{})
	})
	if sharedOrthanc.err != nil {
		t.Fatal(sharedOrthanc.err)
	}
	return sharedOrthanc.srv
}

func orthancClient(t testing.TB) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: orthanc(t).DICOMwebURL(), UserAgent: "mhpnet-node/test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// uploadedSeries is a folder of one series stored through the REST API.
type uploadedSeries struct {
	StudyInstanceUID  string
	SeriesInstanceUID string
	Files             map[string]string // SOPInstanceUID -> path
}

// upload stores every file of dir once per test binary.
func upload(t testing.TB, dir string) *uploadedSeries {
	t.Helper()
	srv := orthanc(t)
	sharedOrthanc.mu.Lock()
	defer sharedOrthanc.mu.Unlock()
	if u := sharedOrthanc.uploads[dir]; u != nil {
		return u
	}
	if _, err := srv.UploadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	u := &uploadedSeries{Files: map[string]string{}}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h := parsePart10Header(t, b)
		u.Files[h.SOPInstanceUID] = p
		u.StudyInstanceUID, u.SeriesInstanceUID = h.StudyInstanceUID, h.SeriesInstanceUID
	}
	if sharedOrthanc.uploads == nil {
		sharedOrthanc.uploads = map[string]*uploadedSeries{}
	}
	sharedOrthanc.uploads[dir] = u
	return u
}

// TestOrthancCTRoundTrip stores IRCAD 1.1 (129 slices) and CRLM-CT-1004
// (41) through Orthanc's REST API, finds them with QIDO-RS, retrieves them
// with WADO-RS and compares every slice's PixelData byte for byte with
// the file.
func TestOrthancCTRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		dir    string
		slices int
	}{
		{"IRCAD 1.1", testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM"), 129},
		{"CRLM-CT-1004", testdata.CT(t, "ct/crlm-ct-1004"), 41},
	}
	c := orthancClient(t)
	ctx := t.Context()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := upload(t, tc.dir)
			if len(u.Files) != tc.slices {
				t.Fatalf("%d files, want %d", len(u.Files), tc.slices)
			}
			studies, err := c.SearchStudies(ctx, Query{Match: map[string]string{"StudyInstanceUID": u.StudyInstanceUID}})
			if err != nil {
				t.Fatal(err)
			}
			if len(studies) != 1 || studies[0].StudyInstanceUID != u.StudyInstanceUID ||
				studies[0].NumberOfStudyRelatedInstances != tc.slices || studies[0].NumberOfStudyRelatedSeries != 1 {
				t.Fatalf("QIDO studies = %+v", studies)
			}
			series, err := c.SearchSeries(ctx, u.StudyInstanceUID, Query{Match: map[string]string{"Modality": "CT"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(series) != 1 || series[0].SeriesInstanceUID != u.SeriesInstanceUID || series[0].Modality != "CT" ||
				series[0].NumberOfSeriesRelatedInstances != tc.slices {
				t.Fatalf("QIDO series = %+v", series)
			}
			n := 0
			err = c.EachInstance(ctx, u.StudyInstanceUID, u.SeriesInstanceUID, Query{Limit: 50}, func(in Instance) error {
				if _, ok := u.Files[in.SOPInstanceUID]; !ok {
					return fmt.Errorf("unknown instance %s", in.SOPInstanceUID)
				}
				n++
				return nil
			})
			if err != nil || n != tc.slices {
				t.Fatalf("QIDO instances: %d, %v", n, err)
			}

			seen := map[string]bool{}
			res, err := c.RetrieveSeries(ctx, u.StudyInstanceUID, u.SeriesInstanceUID, func(p *Part) error {
				if p.ContentType != "application/dicom" {
					return fmt.Errorf("part %d Content-Type %q", p.Index, p.ContentType)
				}
				got := parsePart10(t, readAllPart(t, p))
				path, ok := u.Files[got.SOPInstanceUID]
				if !ok || seen[got.SOPInstanceUID] {
					return fmt.Errorf("part %d: unexpected or repeated SOPInstanceUID %s", p.Index, got.SOPInstanceUID)
				}
				seen[got.SOPInstanceUID] = true
				want := parsePart10File(t, path)
				if got.TransferSyntaxUID != ExplicitVRLittleEndian {
					return fmt.Errorf("part %d: transfer syntax %s", p.Index, got.TransferSyntaxUID)
				}
				if len(want.Pixels) != 512*512*2 || string(got.Pixels) != string(want.Pixels) {
					return fmt.Errorf("part %d (%s): PixelData %d bytes differs from the file's %d", p.Index, filepath.Base(path), len(got.Pixels), len(want.Pixels))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Parts != tc.slices || len(seen) != tc.slices || res.Fallback || res.TransferSyntax != ExplicitVRLittleEndian {
				t.Errorf("retrieve result %+v, %d distinct instances", res, len(seen))
			}
			t.Logf("%s: %d instances, %d bytes, byte-identical PixelData", tc.name, res.Parts, res.Bytes)
		})
	}
}

// TestOrthancQIDOPaging walks every series with limit=1 and compares with
// one unpaged search.
func TestOrthancQIDOPaging(t *testing.T) {
	upload(t, testdata.CT(t, "ircadb/3Dircadb1.1/PATIENT_DICOM"))
	upload(t, testdata.CT(t, "ct/crlm-ct-1004"))
	upload(t, testdata.Shared(t, "data/dcmqi/ct-3slice"))
	c := orthancClient(t)
	all, err := c.SearchSeries(t.Context(), "", Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 3 {
		t.Fatalf("%d series, want at least 3", len(all))
	}
	var want, got []string
	for _, s := range all {
		want = append(want, s.SeriesInstanceUID)
	}
	pages := 0
	err = c.EachSeries(t.Context(), "", Query{Limit: 1}, func(s Series) error {
		got = append(got, s.SeriesInstanceUID)
		pages++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("limit=1 walk gave %d series %v, unpaged %d %v", len(got), got, len(want), want)
	}
	var studies int
	if err := c.EachStudy(t.Context(), Query{Limit: 1}, func(Study) error { studies++; return nil }); err != nil {
		t.Fatal(err)
	}
	allStudies, _ := c.SearchStudies(t.Context(), Query{})
	if studies != len(allStudies) || studies < 3 {
		t.Errorf("limit=1 walk: %d studies, unpaged %d", studies, len(allStudies))
	}
	t.Logf("%d series and %d studies walked one per request", pages, studies)
}

// TestOrthancQIDOMatching: a date range, includefield and a wildcard on
// the dcmqi 3-slice CT (StudyDate 20030417).
func TestOrthancQIDOMatching(t *testing.T) {
	u := upload(t, testdata.Shared(t, "data/dcmqi/ct-3slice"))
	c := orthancClient(t)
	day := func(s string) time.Time { d, _ := time.Parse("20060102", s); return d }
	tests := []struct {
		name  string
		match map[string]string
		want  int
	}{
		{"range around", map[string]string{"StudyDate": DateRange{From: day("20030401"), To: day("20030430")}.String()}, 1},
		{"open range after", map[string]string{"StudyDate": DateRange{From: day("20030418")}.String()}, 0},
		{"open range before", map[string]string{"StudyDate": DateRange{To: day("20030417")}.String()}, 1},
		{"single day", map[string]string{"StudyDate": "20030417"}, 1},
		{"accession wildcard", map[string]string{"AccessionNumber": "0308*", "StudyInstanceUID": u.StudyInstanceUID}, 1},
		{"accession mismatch", map[string]string{"AccessionNumber": "9*", "StudyInstanceUID": u.StudyInstanceUID}, 0},
		{"accession single-character wildcard", map[string]string{"AccessionNumber": "0308?212"}, 1},
		{"UID list", map[string]string{"StudyInstanceUID": u.StudyInstanceUID + ",1.2.3"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{"StudyInstanceUID": u.StudyInstanceUID}
			for k, v := range tc.match {
				m[k] = v
			}
			st, err := c.SearchStudies(t.Context(), Query{Match: m})
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != tc.want {
				t.Fatalf("%d studies, want %d", len(st), tc.want)
			}
			if tc.want == 1 && (st[0].StudyDate != "20030417" || st[0].AccessionNumber != "03086212") {
				t.Errorf("study %+v", st[0])
			}
		})
	}
	// includefield brings an attribute QIDO does not return by default
	in, err := c.SearchInstances(t.Context(), u.StudyInstanceUID, u.SeriesInstanceUID, Query{IncludeFields: []string{"ImagePositionPatient", "00280010"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 {
		t.Fatalf("%d instances", len(in))
	}
	var zs []string
	for _, i := range in {
		ipp := i.Attributes.Strings(0x00200032)
		if len(ipp) != 3 || i.Rows != 512 {
			t.Fatalf("instance %s: ImagePositionPatient %v Rows %d", i.SOPInstanceUID, ipp, i.Rows)
		}
		// Orthanc writes DS as doubles (-126.69000200000001)
		z, _ := strconv.ParseFloat(ipp[2], 64)
		zs = append(zs, strconv.FormatFloat(z, 'f', 6, 64))
	}
	sort.Strings(zs)
	if fmt.Sprint(zs) != "[-126.690002 -127.690002 -128.690002]" {
		t.Errorf("z positions %v", zs)
	}
	md, err := c.RetrieveSeriesMetadata(t.Context(), u.StudyInstanceUID, u.SeriesInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 3 || md[0].String(Modality) != "CT" || md[0].Get(PixelData).BulkDataURI == "" {
		t.Errorf("metadata: %d datasets", len(md))
	}
}

// TestOrthancSTOW stores the dcmqi 3-slice CT (three instances in one
// request) and its liver SEG, finds the SEG under the study, and stores
// the SEG again.
func TestOrthancSTOW(t *testing.T) {
	c := orthancClient(t)
	ctDir := testdata.Shared(t, "data/dcmqi/ct-3slice")
	var cts []Upload
	for _, f := range []string{"01.dcm", "02.dcm", "03.dcm"} {
		up, err := FileUpload(filepath.Join(ctDir, f))
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, up)
	}
	const study = "1.2.392.200103.20080913.113635.0.2009.6.22.21.43.10.22941.1"
	res, err := c.Store(t.Context(), "", cts...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Stored || res.StatusCode != 200 || len(res.Referenced) != 3 || len(res.Failed) != 0 {
		t.Fatalf("CT store: %+v", res)
	}
	seg, err := FileUpload(testdata.Shared(t, "data/seg-reference/dcmqi/liver.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Store(t.Context(), study, seg)
	if err != nil {
		t.Fatal(err)
	}
	const segUID = "1.2.276.0.7230010.3.1.4.0.42154.1458337731.665796"
	if res.Outcome != Stored || len(res.Referenced) != 1 || res.Referenced[0].SOPInstanceUID != segUID ||
		res.Referenced[0].SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4" {
		t.Fatalf("SEG store: %+v", res)
	}
	series, err := c.SearchSeries(t.Context(), study, Query{Match: map[string]string{"Modality": "SEG"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || series[0].SeriesInstanceUID != "1.2.276.0.7230010.3.1.3.0.42154.1458337731.665795" || series[0].NumberOfSeriesRelatedInstances != 1 {
		t.Fatalf("SEG series under its study: %+v", series)
	}
	// Orthanc 1.10 answers an instance it already holds with 200 and no
	// warning (TOOLCHAIN.md §5): typed as Stored.
	again, err := c.Store(t.Context(), study, seg)
	if err != nil || again.Outcome != Stored || len(again.Referenced) != 1 || again.Referenced[0].WarningReason != 0 {
		t.Fatalf("SEG stored again: %+v, %v", again, err)
	}
	// a part that is not DICOM is refused, typed
	bad, err := c.Store(t.Context(), "", BytesUpload("junk", []byte("this is not a DICOM file")))
	if !errors.Is(err, ErrStoreFailed) || bad == nil || bad.Outcome == Stored {
		t.Errorf("junk: %+v, %v", bad, err)
	}
	t.Logf("junk instance: %v", err)

	// a SEG without Study, Series and Patient IDs: Orthanc answers 400
	// with FailedSOPSequence, FailureReason 0xC000 (TOOLCHAIN.md §5)
	minimal := minimalPart10(t, "1.2.840.10008.5.1.4.1.1.66.4", "2.25.31415926535897932384626433832795")
	refused, err := c.Store(t.Context(), "", BytesUpload("minimal", minimal))
	if !errors.Is(err, ErrStoreFailed) || refused == nil || refused.Outcome != Refused || refused.StatusCode != 400 ||
		len(refused.Failed) != 1 || refused.Failed[0].FailureReason != CannotUnderstand {
		t.Errorf("minimal SEG: %+v, %v; want Refused with FailureReason 0xC000", refused, err)
	}
	// and the SEG comes back through WADO-RS unchanged
	var pix []byte
	if _, err := c.RetrieveSeries(t.Context(), study, series[0].SeriesInstanceUID, func(p *Part) error {
		pix = parsePart10(t, readAllPart(t, p)).Pixels
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := parsePart10File(t, seg.Name).Pixels; string(pix) != string(want) || len(want) != 512*512*3/8 {
		t.Errorf("SEG PixelData %d bytes differs from the file's %d", len(pix), len(want))
	}
}

// TestOrthancTransferSyntaxFallback: the cornerstone JPEG 2000 lossless
// slice cannot be transcoded by Orthanc without GDCM (500); the client
// falls back to the stored syntax and gets the J2K bytes of the file.
func TestOrthancTransferSyntaxFallback(t *testing.T) {
	j2k := filepath.Join(testdata.Shared(t, "data/dicom-codecs/cornerstone-ct"), "CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm")
	srv := orthanc(t)
	if srv.GDCM() {
		t.Skip("the shared Orthanc transcodes J2K")
	}
	if _, err := srv.Upload(t.Context(), j2k); err != nil {
		t.Fatal(err)
	}
	want := parsePart10File(t, j2k)
	const study, series = "1.2.840.113619.2.30.1.1762295590.1623.978668949.886", "1.2.840.113619.2.30.1.1762295590.1623.978668949.890"
	c := orthancClient(t)
	check := func(t *testing.T, res RetrieveResult, got part10, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Fallback || res.TransferSyntax != AnyTransferSyntax || res.Parts != 1 {
			t.Errorf("result %+v, want one part through the fallback", res)
		}
		if got.TransferSyntaxUID != "1.2.840.10008.1.2.4.90" || !got.Encapsulated {
			t.Errorf("transfer syntax %s (encapsulated %v), want the stored 1.2.840.10008.1.2.4.90", got.TransferSyntaxUID, got.Encapsulated)
		}
		if len(want.Pixels) == 0 || string(got.Pixels) != string(want.Pixels) {
			t.Errorf("J2K fragments %d bytes differ from the file's %d", len(got.Pixels), len(want.Pixels))
		}
	}
	var got part10
	res, err := c.RetrieveSeries(t.Context(), study, series, func(p *Part) error {
		got = parsePart10(t, readAllPart(t, p))
		return nil
	})
	check(t, res, got, err)
	t.Logf("fallback reason: %s", res.FallbackReason)
	res, err = c.RetrieveInstance(t.Context(), study, series, want.SOPInstanceUID, func(p *Part) error {
		got = parsePart10(t, readAllPart(t, p))
		return nil
	})
	check(t, res, got, err)

	// unknown series: 404, typed, no fallback
	_, err = c.RetrieveSeries(t.Context(), study, "1.2.3.4", func(*Part) error { return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown series: %v, want ErrNotFound", err)
	}
}

// TestOrthancGDCMTranscoding runs only where orthanc-gdcm is installed:
// then Orthanc transcodes J2K to explicit VR little endian itself.
func TestOrthancGDCMTranscoding(t *testing.T) {
	if _, err := os.Stat(orthanctest.DefaultGDCMPlugin); err != nil {
		t.Skipf("orthanc-gdcm not installed (%s); the fallback path is tested instead", orthanctest.DefaultGDCMPlugin)
	}
	srv := orthanctest.Start(t, orthanctest.Options{GDCM: true})
	j2k := filepath.Join(testdata.Shared(t, "data/dicom-codecs/cornerstone-ct"), "CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm")
	if _, err := srv.Upload(t.Context(), j2k); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{BaseURL: srv.DICOMwebURL()})
	if err != nil {
		t.Fatal(err)
	}
	want := parsePart10File(t, filepath.Join(testdata.Shared(t, "data/dicom-codecs/cornerstone-ct"), "CTImage.dcm")).Pixels
	var got part10
	res, err := c.RetrieveSeries(t.Context(), "1.2.840.113619.2.30.1.1762295590.1623.978668949.886", "1.2.840.113619.2.30.1.1762295590.1623.978668949.890", func(p *Part) error {
		got = parsePart10(t, readAllPart(t, p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fallback || got.TransferSyntaxUID != ExplicitVRLittleEndian || string(got.Pixels) != string(want) {
		t.Errorf("GDCM transcoding: %+v, syntax %s, pixels equal %v", res, got.TransferSyntaxUID, string(got.Pixels) == string(want))
	}
}

// BenchmarkOrthancRetrieveSeries measures WADO-RS throughput of the IRCAD
// 1.1 series (129 slices, 67.8 MB) from a local Orthanc, parts discarded.
func BenchmarkOrthancRetrieveSeries(b *testing.B) {
	u := upload(b, testdata.CT(b, "ircadb/3Dircadb1.1/PATIENT_DICOM"))
	c := orthancClient(b)
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.RetrieveSeries(b.Context(), u.StudyInstanceUID, u.SeriesInstanceUID, func(p *Part) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		bytes = res.Bytes
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(b.N*len(u.Files))/b.Elapsed().Seconds(), "instances/s")
}
