package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// Transfer syntax UIDs used in WADO-RS Accept headers (PS3.5 Annex A).
const (
	// ExplicitVRLittleEndian is asked for first: every decoder reads it.
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// AnyTransferSyntax ("*") asks for the instances as stored (PS3.18
	// §8.7.3.5.2); the fallback when the PACS cannot transcode.
	AnyTransferSyntax = "*"
)

// RetrieveResult describes a finished (or interrupted) WADO-RS retrieval.
type RetrieveResult struct {
	// TransferSyntax is the transfer-syntax the successful request asked
	// for: ExplicitVRLittleEndian, or AnyTransferSyntax after a fallback
	// (then each part is in its stored syntax, which the Part 10 file
	// meta of each instance names).
	TransferSyntax string
	// Fallback is true when the first request was refused (FallbackReason
	// holds the PACS's answer) and the stored syntax was asked for.
	Fallback       bool
	FallbackReason string
	// Parts and Bytes count the parts handed to the callback and their
	// bytes.
	Parts int
	Bytes int64
}

// PartFunc receives each part of a WADO-RS answer. It may read the part
// partly or wholly; the rest is skipped. It must not keep the part after it
// returns. An error it returns stops the retrieval and is returned as is.
type PartFunc func(p *Part) error

// fallbackStatus lists answers to an explicit-little-endian request that
// mean "cannot transcode": Orthanc without GDCM answers 500 ("Cannot
// transcode image"), PS3.18 servers 406 Not Acceptable, some 415 or 501.
func fallbackStatus(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusNotImplemented, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return true
	}
	return false
}

// RetrieveSeries streams every instance of a series (WADO-RS
// .../studies/{study}/series/{series}) to fn as Part 10 bytes, one part at
// a time; nothing is buffered beyond a 64 KiB window. It asks for explicit
// VR little endian first; when the PACS refuses (see fallbackStatus), it
// asks again for the stored transfer syntax, which the caller decodes.
//
// A refusal (500, 501, 406, 415) of the first request is not retried: it
// goes to the fallback; other transient answers (502, 503, 504, 408, 429,
// connection errors) are retried first. The fallback request is retried
// like any other. A body that breaks before
// the first part is retried; once parts have been handed to fn, a broken
// body ends the call with an error matching ErrTruncated (or ErrTimeout),
// and RetrieveResult.Parts says how many parts fn received.
func (c *Client) RetrieveSeries(ctx context.Context, studyUID, seriesUID string, fn PartFunc) (RetrieveResult, error) {
	if err := checkUIDs(studyUID, seriesUID); err != nil {
		return RetrieveResult{}, err
	}
	path := "/studies/" + url.PathEscape(studyUID) + "/series/" + url.PathEscape(seriesUID)
	res, err := c.retrieve(ctx, path, fn)
	if err != nil {
		return res, fmt.Errorf("dicomweb: WADO-RS series %s: %w", seriesUID, err)
	}
	return res, nil
}

// RetrieveInstance streams one instance (WADO-RS
// .../studies/{study}/series/{series}/instances/{instance}) to fn, with
// the same transfer-syntax fallback as RetrieveSeries.
func (c *Client) RetrieveInstance(ctx context.Context, studyUID, seriesUID, sopInstanceUID string, fn PartFunc) (RetrieveResult, error) {
	if err := checkUIDs(studyUID, seriesUID, sopInstanceUID); err != nil {
		return RetrieveResult{}, err
	}
	path := "/studies/" + url.PathEscape(studyUID) + "/series/" + url.PathEscape(seriesUID) + "/instances/" + url.PathEscape(sopInstanceUID)
	res, err := c.retrieve(ctx, path, fn)
	if err != nil {
		return res, fmt.Errorf("dicomweb: WADO-RS instance %s: %w", sopInstanceUID, err)
	}
	return res, nil
}

// RetrieveSeriesMetadata returns the metadata of every instance of a
// series (WADO-RS .../metadata, application/dicom+json); bulk data such as
// PixelData comes as BulkDataURI.
func (c *Client) RetrieveSeriesMetadata(ctx context.Context, studyUID, seriesUID string) ([]Dataset, error) {
	if err := checkUIDs(studyUID, seriesUID); err != nil {
		return nil, err
	}
	path := "/studies/" + url.PathEscape(studyUID) + "/series/" + url.PathEscape(seriesUID) + "/metadata"
	ds, err := c.getJSON(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: WADO-RS metadata of series %s: %w", seriesUID, err)
	}
	return ds, nil
}

func checkUIDs(uids ...string) error {
	for _, u := range uids {
		if u == "" {
			return &OptionsError{Field: "UID", Reason: "empty"}
		}
		if len(u) > 64 {
			return &OptionsError{Field: "UID", Reason: fmt.Sprintf("%q is longer than 64 characters", u)}
		}
		for _, r := range u {
			if (r < '0' || r > '9') && r != '.' {
				return &OptionsError{Field: "UID", Reason: fmt.Sprintf("%q holds a character other than digits and dots", u)}
			}
		}
	}
	return nil
}

func acceptMultipart(ts string) string {
	return `multipart/related; type="application/dicom"; transfer-syntax=` + ts
}

func (c *Client) retrieve(ctx context.Context, path string, fn PartFunc) (RetrieveResult, error) {
	res := RetrieveResult{TransferSyntax: ExplicitVRLittleEndian}
	for attempt := 1; ; attempt++ {
		r := &request{method: http.MethodGet, path: path, stream: true,
			header: http.Header{"Accept": {acceptMultipart(res.TransferSyntax)}}}
		if !res.Fallback {
			// a refusal to transcode goes to the fallback, not to retries
			r.finalStatus = fallbackStatus
		}
		resp, err := c.do(ctx, r)
		var he *HTTPError
		if err != nil && !res.Fallback && errors.As(err, &he) && fallbackStatus(he.StatusCode) {
			c.log.Info("PACS refused explicit VR little endian; retrieving the stored transfer syntax",
				zap.String("url", c.redactedURL(r)), zap.Int("status", he.StatusCode), zap.String("reason", he.Message))
			res.Fallback, res.FallbackReason, res.TransferSyntax = true, he.Error(), AnyTransferSyntax
			attempt = 0
			continue
		}
		if err != nil {
			return res, err
		}
		err = c.readParts(resp, &res, fn)
		resp.Body.Close()
		if err == nil {
			return res, nil
		}
		// A body that broke before any part reached fn can be asked for
		// again; after that the caller holds partial results.
		if res.Parts > 0 || !c.retryBroken(ctx, attempt, c.redactedURL(r), err) {
			return res, err
		}
	}
}

func (c *Client) readParts(resp *http.Response, res *RetrieveResult, fn PartFunc) error {
	boundary, err := BoundaryFromContentType(resp.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	mr, err := NewMultipartReader(resp.Body, boundary)
	if err != nil {
		return err
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		// skip what fn left, so that a broken part counts as broken
		if _, err := io.Copy(io.Discard, p); err != nil {
			return err
		}
		res.Parts++
		res.Bytes += p.Len()
	}
}
