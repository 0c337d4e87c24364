package dicomweb

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Query is a QIDO-RS search (PS3.18 §8.3.4, §10.6).
type Query struct {
	// Match holds match keys by DICOM keyword or tag ("Modality": "CT",
	// "0020000D": uid, "StudyDate": DateRange{...}.String()); values use
	// QIDO syntax: "*" and "?" wildcards, ranges "from-to", lists of UIDs
	// separated by "\\" or ",".
	Match map[string]string
	// IncludeFields adds attributes to each result (keywords or tags).
	IncludeFields []string
	// IncludeAll asks for every available attribute (includefield=all).
	IncludeAll bool
	// FuzzyMatching asks for fuzzy matching of person names.
	FuzzyMatching bool
	// Limit and Offset page the results. In the Each* walkers, Limit is
	// the page size (0: one request without paging).
	Limit  int
	Offset int
}

// DateRange is a QIDO-RS date range; a zero end is open.
type DateRange struct {
	From, To time.Time
}

// String gives the range in DICOM DA range syntax: "20200101-20201231",
// "20200101-" or "-20201231".
func (r DateRange) String() string {
	var from, to string
	if !r.From.IsZero() {
		from = r.From.Format("20060102")
	}
	if !r.To.IsZero() {
		to = r.To.Format("20060102")
	}
	if from != "" && from == to {
		return from
	}
	return from + "-" + to
}

func (q Query) values() (url.Values, error) {
	v := url.Values{}
	keys := make([]string, 0, len(q.Match))
	for k := range q.Match {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		v.Set(k, q.Match[k])
	}
	if q.IncludeAll {
		v.Add("includefield", "all")
	}
	for _, f := range q.IncludeFields {
		if err := checkKey(f); err != nil {
			return nil, err
		}
		v.Add("includefield", f)
	}
	if q.FuzzyMatching {
		v.Set("fuzzymatching", "true")
	}
	if q.Limit < 0 || q.Offset < 0 {
		return nil, &OptionsError{Field: "Query.Limit/Offset", Reason: "negative"}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	return v, nil
}

// checkKey accepts a keyword ("StudyDate"), a tag ("0020000D") or a
// sequence path ("ReferencedSeriesSequence.SeriesInstanceUID").
func checkKey(k string) error {
	if k == "" {
		return &OptionsError{Field: "Query", Reason: "empty attribute key"}
	}
	switch strings.ToLower(k) {
	case "limit", "offset", "includefield", "fuzzymatching":
		return &OptionsError{Field: "Query.Match", Reason: k + " is a Query field, not a match key"}
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.') {
			return &OptionsError{Field: "Query", Reason: fmt.Sprintf("attribute key %q is neither a keyword nor a tag", k)}
		}
	}
	return nil
}

// Study is one QIDO-RS study result.
type Study struct {
	StudyInstanceUID              string
	StudyDate                     string // DA, YYYYMMDD
	StudyTime                     string // TM
	AccessionNumber               string
	StudyID                       string
	StudyDescription              string
	ModalitiesInStudy             []string
	NumberOfStudyRelatedSeries    int
	NumberOfStudyRelatedInstances int
	RetrieveURL                   string
	// Attributes holds every returned attribute, patient ones included:
	// never log them.
	Attributes Dataset
}

// Series is one QIDO-RS series result.
type Series struct {
	StudyInstanceUID               string
	SeriesInstanceUID              string
	Modality                       string
	SeriesNumber                   int
	SeriesDescription              string
	SeriesDate                     string
	NumberOfSeriesRelatedInstances int
	RetrieveURL                    string
	Attributes                     Dataset
}

// Instance is one QIDO-RS instance result.
type Instance struct {
	StudyInstanceUID  string
	SeriesInstanceUID string
	SOPClassUID       string
	SOPInstanceUID    string
	InstanceNumber    int
	Rows, Columns     int
	NumberOfFrames    int
	// AvailableTransferSyntaxUID is the stored syntax, when the PACS says.
	AvailableTransferSyntaxUID string
	RetrieveURL                string
	Attributes                 Dataset
}

func intOf(d Dataset, t Tag) int {
	v, _ := d.Int(t)
	return v
}

// StudyFromDataset types a QIDO-RS study result.
func StudyFromDataset(d Dataset) Study {
	return Study{
		StudyInstanceUID: d.String(StudyInstanceUID), StudyDate: d.String(StudyDate), StudyTime: d.String(StudyTime),
		AccessionNumber: d.String(AccessionNumber), StudyID: d.String(StudyID), StudyDescription: d.String(StudyDescription),
		ModalitiesInStudy: d.Strings(ModalitiesInStudy), NumberOfStudyRelatedSeries: intOf(d, NumberOfStudyRelatedSeries),
		NumberOfStudyRelatedInstances: intOf(d, NumberOfStudyRelatedInstances), RetrieveURL: d.String(RetrieveURL), Attributes: d,
	}
}

// SeriesFromDataset types a QIDO-RS series result.
func SeriesFromDataset(d Dataset) Series {
	return Series{
		StudyInstanceUID: d.String(StudyInstanceUID), SeriesInstanceUID: d.String(SeriesInstanceUID), Modality: d.String(Modality),
		SeriesNumber: intOf(d, SeriesNumber), SeriesDescription: d.String(SeriesDescription), SeriesDate: d.String(SeriesDate),
		NumberOfSeriesRelatedInstances: intOf(d, NumberOfSeriesRelatedInstances), RetrieveURL: d.String(RetrieveURL), Attributes: d,
	}
}

// InstanceFromDataset types a QIDO-RS instance result.
func InstanceFromDataset(d Dataset) Instance {
	return Instance{
		StudyInstanceUID: d.String(StudyInstanceUID), SeriesInstanceUID: d.String(SeriesInstanceUID), SOPClassUID: d.String(SOPClassUID),
		SOPInstanceUID: d.String(SOPInstanceUID), InstanceNumber: intOf(d, InstanceNumber), Rows: intOf(d, Rows), Columns: intOf(d, Columns),
		NumberOfFrames: intOf(d, NumberOfFrames), AvailableTransferSyntaxUID: d.String(AvailableTransferSyntaxUID),
		RetrieveURL: d.String(RetrieveURL), Attributes: d,
	}
}

// SearchStudies runs one QIDO-RS request on /studies.
func (c *Client) SearchStudies(ctx context.Context, q Query) ([]Study, error) {
	ds, err := c.search(ctx, "/studies", q)
	if err != nil {
		return nil, err
	}
	out := make([]Study, len(ds))
	for i, d := range ds {
		out[i] = StudyFromDataset(d)
	}
	return out, nil
}

// SearchSeries runs one QIDO-RS request on /studies/{study}/series, or on
// /series when studyUID is "".
func (c *Client) SearchSeries(ctx context.Context, studyUID string, q Query) ([]Series, error) {
	path, err := seriesPath(studyUID)
	if err != nil {
		return nil, err
	}
	ds, err := c.search(ctx, path, q)
	if err != nil {
		return nil, err
	}
	out := make([]Series, len(ds))
	for i, d := range ds {
		out[i] = SeriesFromDataset(d)
	}
	return out, nil
}

// SearchInstances runs one QIDO-RS request on
// /studies/{study}/series/{series}/instances (or /studies/{study}/instances
// when seriesUID is "", or /instances when both are "").
func (c *Client) SearchInstances(ctx context.Context, studyUID, seriesUID string, q Query) ([]Instance, error) {
	path, err := instancesPath(studyUID, seriesUID)
	if err != nil {
		return nil, err
	}
	ds, err := c.search(ctx, path, q)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, len(ds))
	for i, d := range ds {
		out[i] = InstanceFromDataset(d)
	}
	return out, nil
}

func seriesPath(studyUID string) (string, error) {
	if studyUID == "" {
		return "/series", nil
	}
	if err := checkUIDs(studyUID); err != nil {
		return "", err
	}
	return "/studies/" + url.PathEscape(studyUID) + "/series", nil
}

func instancesPath(studyUID, seriesUID string) (string, error) {
	switch {
	case studyUID == "" && seriesUID == "":
		return "/instances", nil
	case studyUID == "":
		return "", &OptionsError{Field: "UID", Reason: "a series UID needs its study UID"}
	case seriesUID == "":
		if err := checkUIDs(studyUID); err != nil {
			return "", err
		}
		return "/studies/" + url.PathEscape(studyUID) + "/instances", nil
	}
	if err := checkUIDs(studyUID, seriesUID); err != nil {
		return "", err
	}
	return "/studies/" + url.PathEscape(studyUID) + "/series/" + url.PathEscape(seriesUID) + "/instances", nil
}

// EachStudy walks every study matching q, page by page (q.Limit results
// per request, from q.Offset) until a page comes back short, calling fn
// for each. An error from fn stops the walk and is returned.
func (c *Client) EachStudy(ctx context.Context, q Query, fn func(Study) error) error {
	return c.walk(ctx, "/studies", q, StudyInstanceUID, func(d Dataset) error { return fn(StudyFromDataset(d)) })
}

// EachSeries walks every series matching q (see EachStudy); studyUID ""
// searches all studies.
func (c *Client) EachSeries(ctx context.Context, studyUID string, q Query, fn func(Series) error) error {
	path, err := seriesPath(studyUID)
	if err != nil {
		return err
	}
	return c.walk(ctx, path, q, SeriesInstanceUID, func(d Dataset) error { return fn(SeriesFromDataset(d)) })
}

// EachInstance walks every instance matching q (see EachStudy).
func (c *Client) EachInstance(ctx context.Context, studyUID, seriesUID string, q Query, fn func(Instance) error) error {
	path, err := instancesPath(studyUID, seriesUID)
	if err != nil {
		return err
	}
	return c.walk(ctx, path, q, SOPInstanceUID, func(d Dataset) error { return fn(InstanceFromDataset(d)) })
}

// walk pages through a QIDO-RS search. A page made only of results
// already seen means the server ignores offset: ErrPaging, rather than an
// endless loop.
func (c *Client) walk(ctx context.Context, path string, q Query, key Tag, fn func(Dataset) error) error {
	seen := map[string]bool{}
	for {
		page, err := c.search(ctx, path, q)
		if err != nil {
			return err
		}
		fresh := 0
		for _, d := range page {
			uid := d.String(key)
			if uid != "" && seen[uid] {
				continue
			}
			seen[uid] = true
			fresh++
			if err := fn(d); err != nil {
				return err
			}
		}
		if q.Limit == 0 || len(page) < q.Limit {
			return nil
		}
		if fresh == 0 {
			return fmt.Errorf("%w: %s offset %d returned only results already seen", ErrPaging, path, q.Offset)
		}
		q.Offset += len(page)
	}
}

func (c *Client) search(ctx context.Context, path string, q Query) ([]Dataset, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	ds, err := c.getJSON(ctx, path, v)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: QIDO-RS %s: %w", path, err)
	}
	return ds, nil
}

// getJSON GETs an application/dicom+json array.
func (c *Client) getJSON(ctx context.Context, path string, v url.Values) ([]Dataset, error) {
	r := &request{method: http.MethodGet, path: path, query: v, header: http.Header{"Accept": {"application/dicom+json"}}}
	for attempt := 1; ; attempt++ {
		resp, err := c.do(ctx, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNoContent {
			resp.Body.Close()
			return nil, nil
		}
		ds, err := DecodeDatasets(resp.Body, c.opts.MaxJSONBytes)
		resp.Body.Close()
		if err == nil || !c.retryBroken(ctx, attempt, c.redactedURL(r), err) {
			return ds, err
		}
	}
}
