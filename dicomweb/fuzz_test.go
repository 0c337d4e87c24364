package dicomweb

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// seedHead keeps fuzz seeds small: the head and tail of a recorded body
// hold every structure (preamble, headers, delimiters) the parser meets.
func seedHead(b []byte) []byte {
	if len(b) <= 8192 {
		return b
	}
	out := append([]byte{}, b[:4096]...)
	return append(out, b[len(b)-4096:]...)
}

// FuzzMultipart: any body, any boundary: the parser ends in parts or a
// typed error, never a panic, and a part never yields more bytes than the
// body holds.
func FuzzMultipart(f *testing.F) {
	for _, name := range []string{"ct3-series", "seg-series", "j2k-any"} {
		ct, body := recordedResponse(f, name)
		b, _ := BoundaryFromContentType(ct)
		f.Add(seedHead(body), b)
		f.Add(body[:min(len(body), 600)], b)
	}
	f.Add(seedHead(recorded(f, "wadors-responses/cornerstone-CTImageEvenAligned.dat")), "EVENBOUNDARY")
	f.Add(seedHead(recorded(f, "wadors-responses/cornerstone-CTImageOddAligned.dat")), "ODDBOUNDARY")
	f.Add([]byte("--B\r\nContent-Length: 1\r\n\r\nA\r\n--B--"), "B")
	f.Add([]byte("--B\n\nA--B\n\r\n"), "B")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		mr, err := NewMultipartReader(bytes.NewReader(body), boundary)
		if err != nil {
			if !errors.Is(err, ErrMultipart) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var total int64
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrMultipart) {
					t.Fatalf("untyped error %v", err)
				}
				break
			}
			if i > len(body) {
				t.Fatalf("%d parts from %d bytes", i, len(body))
			}
			n, err := io.Copy(io.Discard, p)
			total += n
			if err != nil && !errors.Is(err, ErrMultipart) {
				t.Fatalf("untyped read error %v", err)
			}
		}
		if total > int64(len(body)) {
			t.Fatalf("parts yielded %d bytes from a %d-byte body", total, len(body))
		}
	})
}

// FuzzDICOMJSON: any body decodes to datasets or a JSONError; accessors
// on what decodes never panic.
func FuzzDICOMJSON(f *testing.F) {
	for _, name := range []string{"orthanc-recorded/ct3-metadata.json", "orthanc-recorded/stow-new.json",
		"wadors-responses/cornerstone-CTImage-metadata.json", "wadors-responses/dicomweb-client-retrieve_instance_metadata.json"} {
		f.Add(recorded(f, name))
	}
	f.Add([]byte(`[{"00100010":{"vr":"PN","Value":[{"Alphabetic":"A^B"},null]},"00081199":{"vr":"SQ","Value":[{}]}}]`))
	f.Add([]byte(`{"00081198":{"vr":"SQ","Value":[{"00081197":{"vr":"US","Value":[49152]}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseDatasets(data)
		if err != nil {
			if !errors.Is(err, ErrDICOMJSON) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, d := range ds {
			for _, tg := range d.Tags() {
				_ = d.Strings(tg)
				_, _ = d.Int(tg)
				_, _ = d.Float(tg)
				_ = d.PersonName(tg)
				for _, it := range d.Sequence(tg) {
					_ = it.String(tg)
				}
			}
			_ = storeResult(200, d)
			_ = StudyFromDataset(d)
			_ = SeriesFromDataset(d)
			_ = InstanceFromDataset(d)
		}
	})
}
