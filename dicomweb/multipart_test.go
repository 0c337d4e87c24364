package dicomweb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mhpnet/node/internal/testdata"
)

// recordedResponse reads a recorded Orthanc answer: its Content-Type
// header and its body.
func recordedResponse(t testing.TB, name string) (contentType string, body []byte) {
	t.Helper()
	h := recorded(t, "orthanc-recorded/"+name+".headers")
	r := bufio.NewReader(bytes.NewReader(append(h, '\r', '\n')))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s.headers: %v", name, err)
	}
	return resp.Header.Get("Content-Type"), recorded(t, "orthanc-recorded/"+name+".body")
}

type gotPart struct {
	ContentType    string
	TransferSyntax string
	ContentLength  int64
	Data           []byte
}

func readParts(t testing.TB, r io.Reader, boundary string) ([]gotPart, error) {
	t.Helper()
	mr, err := NewMultipartReader(r, boundary)
	if err != nil {
		return nil, err
	}
	var out []gotPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, gotPart{p.ContentType, p.TransferSyntaxUID, p.ContentLength, b})
	}
}

// TestRecordedOrthancBodies parses the recorded Orthanc WADO-RS answers and
// compares each part's PixelData byte for byte with the file Orthanc
// stored.
func TestRecordedOrthancBodies(t *testing.T) {
	ct3 := testdata.Shared(t, "data/dcmqi/ct-3slice")
	files := map[string]string{} // SOPInstanceUID -> file
	for _, f := range []string{"01.dcm", "02.dcm", "03.dcm"} {
		p := parsePart10File(t, filepath.Join(ct3, f))
		files[p.SOPInstanceUID] = filepath.Join(ct3, f)
	}
	seg := testdata.Shared(t, "data/seg-reference/dcmqi/liver.dcm")
	files[parsePart10File(t, seg).SOPInstanceUID] = seg
	j2k := filepath.Join(testdata.Shared(t, "data/dicom-codecs/cornerstone-ct"), "CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm")

	tests := []struct {
		name    string
		parts   int
		wantTS  string // transfer syntax of each returned instance
		against string // "" = by SOPInstanceUID in files
	}{
		{"ct3-series", 3, ExplicitVRLittleEndian, ""}, // stored implicit, transcoded
		{"seg-series", 1, ExplicitVRLittleEndian, ""},
		{"j2k-any", 1, "1.2.840.10008.1.2.4.91", j2k},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := recordedResponse(t, tc.name)
			boundary, err := BoundaryFromContentType(ct)
			if err != nil {
				t.Fatal(err)
			}
			// one byte at a time too: the parser must not depend on how
			// the body is chunked
			for _, chunked := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(body)
				if chunked {
					r = iotest.OneByteReader(r)
				}
				parts, err := readParts(t, r, boundary)
				if err != nil {
					t.Fatal(err)
				}
				if len(parts) != tc.parts {
					t.Fatalf("%d parts, want %d", len(parts), tc.parts)
				}
				for i, p := range parts {
					if p.ContentType != "application/dicom" {
						t.Errorf("part %d Content-Type %q", i, p.ContentType)
					}
					if p.ContentLength != int64(len(p.Data)) {
						t.Errorf("part %d: %d bytes, Content-Length %d", i, len(p.Data), p.ContentLength)
					}
					got := parsePart10(t, p.Data)
					if got.TransferSyntaxUID != tc.wantTS {
						t.Errorf("part %d transfer syntax %s, want %s", i, got.TransferSyntaxUID, tc.wantTS)
					}
					src := tc.against
					if src == "" {
						src = files[got.SOPInstanceUID]
					}
					if src == "" {
						t.Fatalf("part %d: unexpected SOPInstanceUID %s", i, got.SOPInstanceUID)
					}
					want := parsePart10File(t, src)
					if !bytes.Equal(got.Pixels, want.Pixels) || len(want.Pixels) == 0 {
						t.Errorf("part %d: PixelData (%d bytes) differs from %s (%d bytes)", i, len(got.Pixels), filepath.Base(src), len(want.Pixels))
					}
				}
			}
		})
	}
}

// TestCornerstoneBodies parses cornerstone's hand-made WADO-RS bodies
// (preamble, no part headers, no CRLF before the delimiter, no closing
// "--"): the one part holds CTImage.dcm's native PixelData (512x512x2 =
// 524,288 bytes).
func TestCornerstoneBodies(t *testing.T) {
	want := parsePart10File(t, filepath.Join(testdata.Shared(t, "data/dicom-codecs/cornerstone-ct"), "CTImage.dcm")).Pixels
	if len(want) != 524288 {
		t.Fatalf("CTImage.dcm PixelData is %d bytes, want 524288", len(want))
	}
	tests := []struct {
		file, boundary string
		// trailing is what follows the pixel data inside the part: the
		// odd body puts "Content-Type: foo" on the line before its
		// delimiter, which RFC 2046 makes part of the body (the CRLF
		// before "--" belongs to the delimiter).
		trailing string
	}{
		{"cornerstone-CTImageEvenAligned.dat", "EVENBOUNDARY", ""},
		{"cornerstone-CTImageOddAligned.dat", "ODDBOUNDARY", "Content-Type: foo"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := recorded(t, "wadors-responses/"+tc.file)
			for _, rd := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.OneByteReader,
				iotest.HalfReader,
			} {
				parts, err := readParts(t, rd(bytes.NewReader(body)), tc.boundary)
				if err != nil {
					t.Fatal(err)
				}
				if len(parts) != 1 {
					t.Fatalf("%d parts, want 1", len(parts))
				}
				p := parts[0]
				if p.ContentType != "" || p.ContentLength != -1 {
					t.Errorf("headers: type %q length %d, want none", p.ContentType, p.ContentLength)
				}
				if len(p.Data) != len(want)+len(tc.trailing) {
					t.Fatalf("part is %d bytes, want %d", len(p.Data), len(want)+len(tc.trailing))
				}
				if !bytes.Equal(p.Data[:len(want)], want) {
					t.Error("part's first 524288 bytes differ from CTImage.dcm's PixelData")
				}
				if got := string(p.Data[len(want):]); got != tc.trailing {
					t.Errorf("after the pixels: %q, want %q", got, tc.trailing)
				}
			}
		})
	}
}

func TestMultipartLenient(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"rfc", "--B\r\nContent-Type: application/dicom\r\n\r\nAAA\r\n--B\r\n\r\nBB\r\n--B--\r\n", []string{"AAA", "BB"}},
		{"bare LF", "--B\nContent-Type: a/b\n\nAAA\n--B\n\nBB\n--B--\n", []string{"AAA", "BB"}},
		{"preamble and epilogue", "junk\r\nmore junk\r\n--B\r\n\r\nAAA\r\n--B--\r\nepilogue --B\r\n", []string{"AAA"}},
		{"no CRLF before delimiter", "--B\r\n\r\nAAA--B\r\n\r\nBB--B--", []string{"AAA", "BB"}},
		{"no closing dashes", "--B\r\n\r\nAAA\r\n--B\r\n", []string{"AAA"}},
		{"no closing dashes, white space", "--B\r\n\r\nAAA\r\n--B\n\r\n \t", []string{"AAA"}},
		{"no closing dashes, EOF", "--B\r\n\r\nAAA\r\n--B", []string{"AAA"}},
		{"transport padding", "--B \t\r\n\r\nAAA\r\n--B--  \r\n", []string{"AAA"}},
		{"boundary-like data", "--B\r\n\r\nx--BX--By\r\n--Bad\r\n--B--", []string{"x--BX--By\r\n--Bad"}},
		{"empty part", "--B\r\n\r\n\r\n--B--", []string{""}},
		{"data ends in CR LF", "--B\r\n\r\nA\r\n\r\n\r\n--B--", []string{"A\r\n\r\n"}},
		{"no parts", "--B--\r\n", nil},
		{"folded header", "--B\r\nContent-Type: a/b;\r\n\ttransfer-syntax=1.2\r\n\r\nA\r\n--B--", []string{"A"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader} {
				parts, err := readParts(t, rd(strings.NewReader(tc.body)), "B")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, p := range parts {
					got = append(got, string(p.Data))
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
					t.Errorf("parts = %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestMultipartFolded(t *testing.T) {
	parts, err := readParts(t, strings.NewReader("--B\r\nContent-Type: application/dicom;\r\n transfer-syntax=1.2.840.10008.1.2.4.90\r\nContent-Length: 1\r\n\r\nA\r\n--B--"), "B")
	if err != nil {
		t.Fatal(err)
	}
	if parts[0].TransferSyntax != "1.2.840.10008.1.2.4.90" || parts[0].ContentType != "application/dicom" || parts[0].ContentLength != 1 {
		t.Errorf("part = %+v", parts[0])
	}
}

func TestMultipartErrors(t *testing.T) {
	big := strings.Repeat("x", maxPreambleBytes+10)
	tests := []struct {
		name      string
		body      string
		boundary  string
		truncated bool
		wantParts int
	}{
		{"wrong boundary", "--B\r\n\r\nAAA\r\n--B--\r\n", "C", false, 0},
		{"wrong boundary, long preamble", big + "\r\n--B\r\n", "C", false, 0},
		{"empty body", "", "B", true, 0},
		{"truncated in data", "--B\r\n\r\nAAAA", "B", true, 0},
		{"truncated in headers", "--B\r\nContent-Ty", "B", true, 0},
		{"truncated second part", "--B\r\n\r\nAAA\r\n--B\r\nContent-Type: a/b\r\n\r\nBB", "B", true, 1},
		{"short of Content-Length", "--B\r\nContent-Length: 10\r\n\r\nAAA\r\n--B--", "B", true, 0},
		{"beyond Content-Length", "--B\r\nContent-Length: 1\r\n\r\nAAA\r\n--B--", "B", false, 0},
		{"bad Content-Length", "--B\r\nContent-Length: -3\r\n\r\nAAA\r\n--B--", "B", false, 0},
		{"bad header line", "--B\r\nnot a header\r\n\r\nAAA\r\n--B--", "B", false, 0},
		{"header too long", "--B\r\nX: " + strings.Repeat("y", maxPartHeaderSize) + "\r\n\r\nA\r\n--B--", "B", false, 0},
		{"line longer than the buffer", "--B\r\nX: " + strings.Repeat("y", multipartBufSize+5) + "\r\n\r\nA\r\n--B--", "B", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := readParts(t, strings.NewReader(tc.body), tc.boundary)
			if !errors.Is(err, ErrMultipart) {
				t.Fatalf("err = %v, want ErrMultipart", err)
			}
			if got := errors.Is(err, ErrTruncated); got != tc.truncated {
				t.Errorf("errors.Is(ErrTruncated) = %v, want %v (%v)", got, tc.truncated, err)
			}
			if len(parts) != tc.wantParts {
				t.Errorf("%d whole parts before the error, want %d", len(parts), tc.wantParts)
			}
		})
	}
	if _, err := NewMultipartReader(strings.NewReader(""), ""); !errors.Is(err, ErrMultipart) {
		t.Errorf("empty boundary: %v", err)
	}
}

// TestMultipartSkipUnread: a caller that reads nothing of a part still
// gets the next one.
func TestMultipartSkipUnread(t *testing.T) {
	mr, _ := NewMultipartReader(strings.NewReader("--B\r\n\r\n"+strings.Repeat("z", 200000)+"\r\n--B\r\n\r\nlast\r\n--B--"), "B")
	if _, err := mr.NextPart(); err != nil {
		t.Fatal(err)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if b := readAllPart(t, p); string(b) != "last" {
		t.Errorf("second part %q", b)
	}
	if p.Index != 1 {
		t.Errorf("Index = %d", p.Index)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the last part: %v, want io.EOF", err)
	}
}

func TestBoundaryFromContentType(t *testing.T) {
	tests := []struct {
		ct, want string
		ok       bool
	}{
		{`multipart/related; type="application/dicom"; boundary=abc-123`, "abc-123", true},
		{`multipart/related; boundary="a b"; type=application/dicom`, "a b", true},
		{`multipart/related; type=application/dicom; boundary=xyz`, "xyz", true},
		{`application/dicom+json`, "", false},
		{`multipart/related; type="application/dicom"`, "", false},
		{``, "", false},
	}
	for _, tc := range tests {
		got, err := BoundaryFromContentType(tc.ct)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %q, %v", tc.ct, got, err)
		}
		if err != nil && !errors.Is(err, ErrMultipart) {
			t.Errorf("%q: error %v is not ErrMultipart", tc.ct, err)
		}
	}
}

// BenchmarkMultipartSeries streams the recorded 3-slice series.
func BenchmarkMultipartSeries(b *testing.B) {
	ct, body := recordedResponse(b, "ct3-series")
	boundary, _ := BoundaryFromContentType(ct)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		mr, _ := NewMultipartReader(bytes.NewReader(body), boundary)
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			io.Copy(io.Discard, p)
		}
	}
}
