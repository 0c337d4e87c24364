package dicomweb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

// StoreOutcome classifies a STOW-RS answer (PS3.18 §10.5.3).
type StoreOutcome string

// STOW-RS outcomes.
const (
	// Stored: 200, every instance stored, no warning.
	Stored StoreOutcome = "stored"
	// StoredWithWarnings: 202 (or 200 with a WarningReason), every instance
	// stored, some coerced or with elements discarded.
	StoredWithWarnings StoreOutcome = "stored with warnings"
	// PartiallyStored: some instances stored, some failed.
	PartiallyStored StoreOutcome = "partially stored"
	// Conflict: 409, nothing stored (e.g. a study UID mismatch).
	Conflict StoreOutcome = "conflict"
	// Refused: nothing stored (400, or 200 with only failures).
	Refused StoreOutcome = "refused"
)

// FailureCode is a STOW-RS FailureReason (0008,1197) code (PS3.18
// Table 10.5.3-2 and PS3.4 status codes).
type FailureCode uint16

// Known failure reasons.
const (
	ProcessingFailure           FailureCode = 0x0110
	DuplicateSOPInstance        FailureCode = 0x0111
	NoSuchObjectInstance        FailureCode = 0x0112
	ClassInstanceConflict       FailureCode = 0x0119
	SOPClassNotSupported        FailureCode = 0x0122
	OutOfResources              FailureCode = 0xA700
	DataSetDoesNotMatchSOPClass FailureCode = 0xA900
	CannotUnderstand            FailureCode = 0xC000
	TransferSyntaxNotSupported  FailureCode = 0xC122
)

// String names the code and gives it in hex, e.g. "0xC000 cannot understand".
func (f FailureCode) String() string {
	name := map[FailureCode]string{
		ProcessingFailure: "processing failure", DuplicateSOPInstance: "duplicate SOP instance",
		NoSuchObjectInstance: "no such object instance", ClassInstanceConflict: "class-instance conflict",
		SOPClassNotSupported: "SOP class not supported", OutOfResources: "out of resources",
		DataSetDoesNotMatchSOPClass: "data set does not match SOP class", CannotUnderstand: "cannot understand",
		TransferSyntaxNotSupported: "transfer syntax not supported",
	}[f]
	if name == "" {
		if f>>12 == 0xA || f>>12 == 0xC {
			name = "failure"
		} else {
			name = "unknown reason"
		}
	}
	return fmt.Sprintf("0x%04X %s", uint16(f), name)
}

// WarningCode is a STOW-RS WarningReason (0008,1196) code.
type WarningCode uint16

// Known warning reasons (PS3.18 Table 10.5.3-2).
const (
	CoercionOfDataElements          WarningCode = 0xB000
	ElementsDiscarded               WarningCode = 0xB006
	DataSetDoesNotMatchSOPClassWarn WarningCode = 0xB007
)

// String gives the code in hex with its name.
func (w WarningCode) String() string {
	name := map[WarningCode]string{CoercionOfDataElements: "coercion of data elements",
		ElementsDiscarded: "elements discarded", DataSetDoesNotMatchSOPClassWarn: "data set does not match SOP class"}[w]
	if name == "" {
		name = "warning"
	}
	return fmt.Sprintf("0x%04X %s", uint16(w), name)
}

// StoredInstance is one ReferencedSOPSequence item.
type StoredInstance struct {
	SOPClassUID    string
	SOPInstanceUID string
	RetrieveURL    string
	WarningReason  WarningCode // 0 when none
}

// FailedInstance is one FailedSOPSequence item.
type FailedInstance struct {
	SOPClassUID    string
	SOPInstanceUID string
	FailureReason  FailureCode
}

// StoreResult is a typed STOW-RS answer.
type StoreResult struct {
	StatusCode int
	Outcome    StoreOutcome
	// RetrieveURL is the study's URL (0008,1190), when given.
	RetrieveURL string
	Referenced  []StoredInstance
	Failed      []FailedInstance
	// Message is the server's explanation when a refusal came without
	// DICOM JSON.
	Message string
}

// Upload is one instance to store: its Part 10 bytes, opened afresh for
// each attempt (a retry sends the body again).
type Upload struct {
	// Name identifies the instance in errors (a file name; never a
	// patient attribute).
	Name string
	// Size is the exact byte length.
	Size int64
	// Open returns the bytes.
	Open func() (io.ReadCloser, error)
}

// FileUpload is an Upload of a Part 10 file.
func FileUpload(path string) (Upload, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Upload{}, fmt.Errorf("dicomweb: STOW-RS input: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Upload{}, fmt.Errorf("dicomweb: STOW-RS input %s: not a regular file", path)
	}
	return Upload{Name: path, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}, nil
}

// BytesUpload is an Upload of Part 10 bytes held in memory.
func BytesUpload(name string, b []byte) Upload {
	return Upload{Name: name, Size: int64(len(b)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// Store sends instances in one STOW-RS request (POST /studies, or
// /studies/{study} when studyUID is not "": the PACS then refuses
// instances of another study). The result is typed; when not every
// instance was stored the error is a *StoreError (ErrStoreFailed, and
// ErrConflict for 409) and the result is returned as well.
//
// Orthanc 1.10 answers 200 for an instance it already holds (no 409, no
// warning), so storing the same SEG twice is Stored twice.
func (c *Client) Store(ctx context.Context, studyUID string, instances ...Upload) (*StoreResult, error) {
	if len(instances) == 0 {
		return nil, &OptionsError{Field: "Store", Reason: "no instance to store"}
	}
	path := "/studies"
	if studyUID != "" {
		if err := checkUIDs(studyUID); err != nil {
			return nil, err
		}
		path += "/" + url.PathEscape(studyUID)
	}
	for i, u := range instances {
		if u.Open == nil || u.Size < 0 {
			return nil, &OptionsError{Field: "Store", Reason: fmt.Sprintf("instance %d (%s) has no Open or a negative Size", i, u.Name)}
		}
	}
	var rb [16]byte
	_, _ = rand.Read(rb[:])
	boundary := "mhpnet-" + hex.EncodeToString(rb[:])
	r := &request{
		method: http.MethodPost,
		path:   path,
		header: http.Header{
			"Accept":       {"application/dicom+json"},
			"Content-Type": {`multipart/related; type="application/dicom"; boundary=` + boundary},
		},
		body:   func() (io.ReadCloser, int64, error) { return newStowBody(boundary, instances) },
		accept: []int{http.StatusBadRequest, http.StatusConflict},
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: STOW-RS %s: %w", path, err)
	}
	defer resp.Body.Close()
	var ds Dataset
	var message string
	if resp.StatusCode != http.StatusNoContent {
		body, err := readLimited(resp.Body, c.opts.MaxJSONBytes)
		if err != nil {
			return nil, fmt.Errorf("dicomweb: STOW-RS %s answer: %w", path, err)
		}
		all, err := ParseDatasets(body)
		if err != nil {
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusConflict {
				return nil, fmt.Errorf("dicomweb: STOW-RS %s answer: %w", path, err)
			}
			// an error answer without DICOM JSON (Orthanc's own JSON
			// error): keep its explanation
			message = errorMessage(body)
		}
		if len(all) > 0 {
			ds = all[0]
		}
	}
	res := storeResult(resp.StatusCode, ds)
	res.Message = message
	switch res.Outcome {
	case Stored, StoredWithWarnings:
		return res, nil
	}
	return res, &StoreError{Result: res}
}

func storeResult(status int, ds Dataset) *StoreResult {
	res := &StoreResult{StatusCode: status, RetrieveURL: ds.String(RetrieveURL)}
	warn := false
	for _, it := range ds.Sequence(ReferencedSOPSequence) {
		w, _ := it.Int(WarningReason)
		res.Referenced = append(res.Referenced, StoredInstance{
			SOPClassUID: it.String(ReferencedSOPClassUID), SOPInstanceUID: it.String(ReferencedSOPInstanceUID),
			RetrieveURL: it.String(RetrieveURL), WarningReason: WarningCode(w),
		})
		warn = warn || w != 0
	}
	for _, it := range ds.Sequence(FailedSOPSequence) {
		f, _ := it.Int(FailureReason)
		res.Failed = append(res.Failed, FailedInstance{
			SOPClassUID: it.String(ReferencedSOPClassUID), SOPInstanceUID: it.String(ReferencedSOPInstanceUID),
			FailureReason: FailureCode(f),
		})
	}
	switch {
	case status == http.StatusConflict:
		res.Outcome = Conflict
	case len(res.Failed) > 0 && len(res.Referenced) > 0:
		res.Outcome = PartiallyStored
	case len(res.Failed) > 0 || status == http.StatusBadRequest:
		res.Outcome = Refused
	case status == http.StatusAccepted || warn:
		res.Outcome = StoredWithWarnings
	default:
		res.Outcome = Stored
	}
	return res
}

// stowBody streams the multipart body, opening each instance only when
// its turn comes (hundreds of instances never hold hundreds of files open).
type stowBody struct {
	parts   []Upload
	i       int
	head    *bytes.Reader
	cur     io.ReadCloser
	curName string
	curN    int64
	curSize int64
	tail    *bytes.Reader
	header  []byte
}

func newStowBody(boundary string, parts []Upload) (io.ReadCloser, int64, error) {
	header := []byte("\r\n--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
	tail := []byte("\r\n--" + boundary + "--\r\n")
	size := int64(len(tail))
	for i, p := range parts {
		h := int64(len(header))
		if i == 0 {
			h -= 2 // no CRLF before the first delimiter
		}
		size += h + p.Size
	}
	return &stowBody{parts: parts, header: header, tail: bytes.NewReader(tail)}, size, nil
}

func (b *stowBody) Read(p []byte) (int, error) {
	for {
		if b.cur != nil {
			n, err := b.cur.Read(p)
			b.curN += int64(n)
			if b.curN > b.curSize {
				return n, fmt.Errorf("dicomweb: STOW-RS input %s grew beyond its size %d", b.curName, b.curSize)
			}
			if err == io.EOF {
				b.cur.Close()
				b.cur = nil
				if b.curN != b.curSize {
					return n, fmt.Errorf("dicomweb: STOW-RS input %s has %d bytes, not the %d announced", b.curName, b.curN, b.curSize)
				}
				if n > 0 {
					return n, nil
				}
				continue
			}
			return n, err
		}
		if b.head != nil && b.head.Len() > 0 {
			return b.head.Read(p)
		}
		if b.head != nil {
			b.head = nil
			u := b.parts[b.i-1]
			rc, err := u.Open()
			if err != nil {
				return 0, fmt.Errorf("dicomweb: STOW-RS input %s: %w", u.Name, err)
			}
			b.cur, b.curName, b.curN, b.curSize = rc, u.Name, 0, u.Size
			continue
		}
		if b.i < len(b.parts) {
			h := b.header
			if b.i == 0 {
				h = h[2:]
			}
			b.head = bytes.NewReader(h)
			b.i++
			continue
		}
		return b.tail.Read(p)
	}
}

func (b *stowBody) Close() error {
	if b.cur != nil {
		return b.cur.Close()
	}
	return nil
}
