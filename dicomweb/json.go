package dicomweb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// maxSequenceDepth bounds nested sequences in DICOM JSON; real objects
// nest a few levels (SEG: SharedFunctionalGroups > DerivationImage >
// SourceImage), a hostile body could nest thousands.
const maxSequenceDepth = 32

// Dataset is one DICOM object in the DICOM JSON model (PS3.18 §F.2): the
// attributes by tag. A nil or empty Dataset answers every accessor with a
// zero value.
type Dataset map[Tag]*Element

// PersonName is a PN value's three component groups (PS3.18 §F.2.2).
type PersonName struct {
	Alphabetic  string `json:"Alphabetic,omitempty"`
	Ideographic string `json:"Ideographic,omitempty"`
	Phonetic    string `json:"Phonetic,omitempty"`
}

// Element is one attribute. Exactly one of the value slices is used,
// chosen by VR: Items for SQ, PersonNames for PN, Numbers for the binary
// and decimal/integer string numeric VRs (DS, IS, FL, FD, SL, SS, UL, US,
// SV, UV), Strings for everything else (AT included). A JSON null inside
// Value becomes "" (or an empty item, or a zero PersonName); Null marks
// those positions.
type Element struct {
	VR           string
	Strings      []string
	Numbers      []json.Number
	PersonNames  []PersonName
	Items        []Dataset
	Null         []bool // per value: true where the JSON value was null
	BulkDataURI  string
	InlineBinary []byte
}

// Len is the value multiplicity.
func (e *Element) Len() int {
	if e == nil {
		return 0
	}
	return max(len(e.Strings), len(e.Numbers), len(e.PersonNames), len(e.Items))
}

// Get returns the element for t, or nil.
func (d Dataset) Get(t Tag) *Element {
	if d == nil {
		return nil
	}
	return d[t]
}

// String returns the first value of t as text ("" when absent). Numbers
// come back in their JSON spelling, a PN as its Alphabetic group.
func (d Dataset) String(t Tag) string {
	s := d.Strings(t)
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Strings returns every value of t as text.
func (d Dataset) Strings(t Tag) []string {
	e := d.Get(t)
	if e == nil {
		return nil
	}
	switch {
	case e.Strings != nil:
		return e.Strings
	case e.Numbers != nil:
		out := make([]string, len(e.Numbers))
		for i, n := range e.Numbers {
			out[i] = n.String()
		}
		return out
	case e.PersonNames != nil:
		out := make([]string, len(e.PersonNames))
		for i, p := range e.PersonNames {
			out[i] = p.Alphabetic
		}
		return out
	}
	return nil
}

// Int returns the first value of t as an integer; ok is false when it is
// absent or not an integer.
func (d Dataset) Int(t Tag) (v int, ok bool) {
	e := d.Get(t)
	if e == nil {
		return 0, false
	}
	var s string
	switch {
	case len(e.Numbers) > 0:
		s = e.Numbers[0].String()
	case len(e.Strings) > 0: // some servers send IS as a JSON string
		s = strings.TrimSpace(e.Strings[0])
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int(f)) {
			return 0, false
		}
		return int(f), true
	}
	return n, true
}

// Float returns the first value of t as a float64; ok is false when it is
// absent or not a number.
func (d Dataset) Float(t Tag) (v float64, ok bool) {
	s := d.String(t)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}

// PersonName returns the first PN value of t.
func (d Dataset) PersonName(t Tag) PersonName {
	e := d.Get(t)
	if e == nil || len(e.PersonNames) == 0 {
		return PersonName{}
	}
	return e.PersonNames[0]
}

// Sequence returns the items of the SQ attribute t.
func (d Dataset) Sequence(t Tag) []Dataset {
	e := d.Get(t)
	if e == nil {
		return nil
	}
	return e.Items
}

// Tags lists the dataset's tags in ascending order.
func (d Dataset) Tags() []Tag {
	out := make([]Tag, 0, len(d))
	for t := range d {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// DecodeDatasets reads a DICOM JSON array of datasets (a QIDO-RS or
// metadata answer), reading at most limit bytes (limit <= 0: no limit).
// An empty body is an empty array (some servers answer 204 or nothing).
func DecodeDatasets(r io.Reader, limit int64) ([]Dataset, error) {
	data, err := readLimited(r, limit)
	if err != nil {
		return nil, err
	}
	return ParseDatasets(data)
}

// ParseDatasets parses a DICOM JSON array of datasets. A single object is
// accepted too (as a one-element array): STOW-RS answers are objects.
func ParseDatasets(data []byte) ([]Dataset, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &JSONError{Reason: "not JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &JSONError{Reason: "trailing data after the JSON value"}
	}
	switch t := v.(type) {
	case []any:
		out := make([]Dataset, 0, len(t))
		for i, it := range t {
			ds, err := datasetFromJSON(it, fmt.Sprintf("[%d]", i), 0)
			if err != nil {
				return nil, err
			}
			out = append(out, ds)
		}
		return out, nil
	case map[string]any:
		ds, err := datasetFromJSON(t, "", 0)
		if err != nil {
			return nil, err
		}
		return []Dataset{ds}, nil
	case nil:
		return nil, nil
	}
	return nil, &JSONError{Reason: fmt.Sprintf("expected an array of objects, found %s", jsonKind(v))}
}

// ParseDataset parses one DICOM JSON object.
func ParseDataset(data []byte) (Dataset, error) {
	ds, err := ParseDatasets(data)
	if err != nil {
		return nil, err
	}
	if len(ds) != 1 {
		return nil, &JSONError{Reason: fmt.Sprintf("expected one dataset, found %d", len(ds))}
	}
	return ds[0], nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func datasetFromJSON(v any, path string, depth int) (Dataset, error) {
	if depth > maxSequenceDepth {
		return nil, &JSONError{Path: path, Reason: fmt.Sprintf("sequences nested deeper than %d", maxSequenceDepth)}
	}
	if v == nil {
		return Dataset{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &JSONError{Path: path, Reason: "expected a dataset object, found " + jsonKind(v)}
	}
	ds := make(Dataset, len(m))
	for k, ev := range m {
		p := joinPath(path, k)
		t, err := ParseTag(k)
		if err != nil {
			return nil, &JSONError{Path: p, Reason: "key is not a tag (8 hex digits)"}
		}
		el, err := elementFromJSON(ev, p, depth)
		if err != nil {
			return nil, err
		}
		ds[t] = el
	}
	return ds, nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func isNumericVR(vr string) bool {
	switch vr {
	case "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV":
		return true
	}
	return false
}

func elementFromJSON(v any, path string, depth int) (*Element, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &JSONError{Path: path, Reason: "expected an attribute object, found " + jsonKind(v)}
	}
	vr, ok := m["vr"].(string)
	if !ok || len(vr) != 2 {
		return nil, &JSONError{Path: path, Reason: "missing or invalid \"vr\""}
	}
	el := &Element{VR: vr}
	if b, ok := m["BulkDataURI"]; ok {
		s, ok := b.(string)
		if !ok {
			return nil, &JSONError{Path: path + ".BulkDataURI", Reason: "not a string"}
		}
		el.BulkDataURI = s
	}
	if b, ok := m["InlineBinary"]; ok {
		s, ok := b.(string)
		if !ok {
			return nil, &JSONError{Path: path + ".InlineBinary", Reason: "not a string"}
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, &JSONError{Path: path + ".InlineBinary", Reason: "not base64: " + err.Error()}
		}
		el.InlineBinary = raw
	}
	rawVals, ok := m["Value"]
	if !ok {
		return el, nil
	}
	vals, ok := rawVals.([]any)
	if !ok {
		return nil, &JSONError{Path: path + ".Value", Reason: "expected an array, found " + jsonKind(rawVals)}
	}
	el.Null = make([]bool, len(vals))
	switch {
	case vr == "SQ":
		el.Items = make([]Dataset, len(vals))
		for i, it := range vals {
			ds, err := datasetFromJSON(it, fmt.Sprintf("%s.Value[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			el.Items[i], el.Null[i] = ds, it == nil
		}
	case vr == "PN":
		el.PersonNames = make([]PersonName, len(vals))
		for i, it := range vals {
			switch pv := it.(type) {
			case nil:
				el.Null[i] = true
			case map[string]any:
				for k, g := range pv {
					s, ok := g.(string)
					if !ok && g != nil {
						return nil, &JSONError{Path: fmt.Sprintf("%s.Value[%d].%s", path, i, k), Reason: "not a string"}
					}
					switch k {
					case "Alphabetic":
						el.PersonNames[i].Alphabetic = s
					case "Ideographic":
						el.PersonNames[i].Ideographic = s
					case "Phonetic":
						el.PersonNames[i].Phonetic = s
					}
				}
			case string: // lenient: some servers write PN as a plain string
				el.PersonNames[i].Alphabetic = pv
			default:
				return nil, &JSONError{Path: fmt.Sprintf("%s.Value[%d]", path, i), Reason: "PN value is " + jsonKind(it)}
			}
		}
	case isNumericVR(vr):
		el.Numbers = make([]json.Number, 0, len(vals))
		el.Null = el.Null[:0]
		for i, it := range vals {
			switch nv := it.(type) {
			case nil:
				el.Numbers = append(el.Numbers, "")
				el.Null = append(el.Null, true)
			case json.Number:
				el.Numbers = append(el.Numbers, nv)
				el.Null = append(el.Null, false)
			case string:
				// lenient: DS/IS sent as strings, even several values in
				// one backslash-separated string (cornerstone's fixture)
				for _, s := range strings.Split(nv, "\\") {
					s = strings.TrimSpace(s)
					if _, err := strconv.ParseFloat(s, 64); err != nil {
						return nil, &JSONError{Path: fmt.Sprintf("%s.Value[%d]", path, i), Reason: fmt.Sprintf("%s value %q is not a number", vr, nv)}
					}
					el.Numbers = append(el.Numbers, json.Number(s))
					el.Null = append(el.Null, false)
				}
			default:
				return nil, &JSONError{Path: fmt.Sprintf("%s.Value[%d]", path, i), Reason: vr + " value is " + jsonKind(it)}
			}
		}
	default:
		el.Strings = make([]string, len(vals))
		for i, it := range vals {
			switch sv := it.(type) {
			case nil:
				el.Null[i] = true
			case string:
				el.Strings[i] = sv
			case json.Number: // lenient: a number under a string VR
				el.Strings[i] = sv.String()
			default:
				return nil, &JSONError{Path: fmt.Sprintf("%s.Value[%d]", path, i), Reason: vr + " value is " + jsonKind(it)}
			}
		}
	}
	return el, nil
}

// readLimited reads r to the end, failing with ErrTooLarge beyond limit
// bytes (limit <= 0: no limit).
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("dicomweb: read body: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("dicomweb: read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: body exceeds %d bytes (raise Options.MaxJSONBytes)", ErrTooLarge, limit)
	}
	return b, nil
}
