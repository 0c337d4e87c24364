// Package rules decides, for each series of an arriving study, whether the
// node segments it. It sits between intake and the queue in the pipeline:
// intake -> rules -> queue -> worker. The rules are written by the PACS
// administrator in node.yaml (package config parses them into a Set) and are
// evaluated in order; the first rule whose every condition holds decides the
// action. Every decision carries a reason a person can read, because a
// radiologist asking "why was my study not segmented?" must get an answer
// from the log or the result event.
//
// The package does no I/O: series attributes come from QIDO-RS or from a
// local folder, gathered by the caller.
package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Action is what happens to a series: it is processed or skipped.
type Action string

// Actions a rule may take.
const (
	// Process queues a segmentation job for the series.
	Process Action = "process"
	// Skip records the series as not processed, with the reason.
	Skip Action = "skip"
)

// ParseAction returns the Action named s ("process" or "skip").
func ParseAction(s string) (Action, error) {
	switch Action(s) {
	case Process, Skip:
		return Action(s), nil
	}
	return "", fmt.Errorf("action %q is not one of process, skip", s)
}

// Series holds the attributes of one series that rules look at. Names are the
// DICOM keywords. A zero value means the attribute is absent (unknown).
type Series struct {
	// Source names the PACS the study came from (node.yaml pacs.name or the
	// event's source).
	Source            string
	StudyInstanceUID  string
	SeriesInstanceUID string
	SeriesNumber      int
	Modality          string
	BodyPartExamined  string
	SeriesDescription string
	ProtocolName      string
	Manufacturer      string
	// ImageType holds the values of (0008,0008), e.g. ORIGINAL, PRIMARY, AXIAL.
	ImageType []string
	// ContrastBolusAgent is (0018,0010); empty when absent.
	ContrastBolusAgent string
	// SliceThickness is (0018,0050) in mm; 0 when absent.
	SliceThickness float64
	// NumberOfSlices is the number of instances in the series
	// (NumberOfSeriesRelatedInstances); 0 when unknown.
	NumberOfSlices int
	// ImageOrientationPatient is (0020,0037) when known (6 values).
	ImageOrientationPatient []float64
}

// Axial reports whether the series is axial: ImageType contains AXIAL, or the
// slice normal from ImageOrientationPatient is within about 25 degrees of the
// patient's foot-head axis.
func (s Series) Axial() bool {
	if containsFold(s.ImageType, "AXIAL") {
		return true
	}
	if len(s.ImageOrientationPatient) != 6 {
		return false
	}
	r, c := s.ImageOrientationPatient[:3], s.ImageOrientationPatient[3:]
	nz := r[0]*c[1] - r[1]*c[0]
	n := math.Sqrt(sq(r[1]*c[2]-r[2]*c[1]) + sq(r[2]*c[0]-r[0]*c[2]) + sq(nz))
	return n > 0 && math.Abs(nz)/n > 0.9
}

func sq(v float64) float64 { return v * v }

// Presence is a condition on an optional attribute.
type Presence string

// Presence values.
const (
	// Any accepts the attribute present or absent (the default).
	Any Presence = ""
	// Present requires a non-empty value.
	Present Presence = "present"
	// Absent requires no value.
	Absent Presence = "absent"
)

// ParsePresence returns the Presence named s ("present", "absent" or "any").
func ParsePresence(s string) (Presence, error) {
	switch s {
	case "present":
		return Present, nil
	case "absent":
		return Absent, nil
	case "any", "":
		return Any, nil
	}
	return "", fmt.Errorf("%q is not one of present, absent, any", s)
}

// Pattern is an anchored regular expression: it must match the whole value.
type Pattern struct {
	expr string
	re   *regexp.Regexp
}

// NewPattern compiles expr anchored at both ends, so "portal" matches only the
// value "portal" and ".*portal.*" is needed for a substring. Use the (?i)
// flag for case-insensitive matching.
func NewPattern(expr string) (*Pattern, error) {
	// Compiled alone first so that an error quotes the expression as written.
	if _, err := regexp.Compile(expr); err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", expr, err)
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", expr, err)
	}
	return &Pattern{expr: expr, re: re}, nil
}

// String returns the expression as written.
func (p *Pattern) String() string { return p.expr }

// MatchString reports whether the whole of v matches.
func (p *Pattern) MatchString(v string) bool { return p.re.MatchString(v) }

// Range is an inclusive numeric range; a nil bound is open.
type Range struct {
	Min, Max *float64
}

// Contains reports whether v lies within the range.
func (r Range) Contains(v float64) bool {
	return (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
}

// String formats the range as [min, max] with open bounds shown as -inf/+inf.
func (r Range) String() string {
	lo, hi := "-inf", "+inf"
	if r.Min != nil {
		lo = fmtNum(*r.Min)
	}
	if r.Max != nil {
		hi = fmtNum(*r.Max)
	}
	return "[" + lo + ", " + hi + "]"
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Match holds the conditions of a rule; every set condition must hold. An
// unset (nil or empty) condition is not checked. A condition on an attribute
// the series lacks does not hold.
type Match struct {
	// Modality lists accepted values of (0008,0060), compared case-insensitively.
	Modality []string
	// BodyPartExamined lists accepted values of (0018,0015).
	BodyPartExamined []string
	// SeriesDescription must match the whole of (0008,103E).
	SeriesDescription *Pattern
	// ProtocolName must match the whole of (0018,1030).
	ProtocolName *Pattern
	// ImageTypeContains lists values that ImageType must all contain.
	ImageTypeContains []string
	// ImageTypeExcludes lists values that ImageType must not contain.
	ImageTypeExcludes []string
	// ContrastBolusAgent requires (0018,0010) present or absent.
	ContrastBolusAgent Presence
	// SliceThickness bounds (0018,0050) in mm.
	SliceThickness *Range
	// NumberOfSlices bounds the number of instances in the series.
	NumberOfSlices *Range
	// Manufacturer lists accepted values of (0008,0070), compared
	// case-insensitively.
	Manufacturer []string
	// Source lists accepted source PACS names.
	Source []string
}

// Rule is one routing rule.
type Rule struct {
	// Name identifies the rule in logs and result events.
	Name string
	// Match holds the conditions.
	Match Match
	// Action is taken when every condition holds.
	Action Action
	// Priority is the queue priority of jobs from this rule (a token of the
	// subject seg.jobs.<priority>); empty means the queue's default.
	Priority string
}

// SelectMode says what happens when several series of one study qualify.
type SelectMode string

// Selection modes.
const (
	// SelectOne processes the single best series by the stated preferences.
	SelectOne SelectMode = "one"
	// SelectAll processes every qualifying series.
	SelectAll SelectMode = "all"
)

// Preference is a criterion for picking one series of a study.
type Preference string

// Preferences, applied in the order stated until one series wins.
const (
	// PreferContrast prefers a series with ContrastBolusAgent present.
	PreferContrast Preference = "contrast"
	// PreferAxial prefers an axial series (see Series.Axial).
	PreferAxial Preference = "axial"
	// PreferThinnest prefers the smallest SliceThickness (unknown is worst).
	PreferThinnest Preference = "thinnest"
	// PreferMostSlices prefers the series with the most instances.
	PreferMostSlices Preference = "most_slices"
)

// ParsePreference returns the Preference named s.
func ParsePreference(s string) (Preference, error) {
	switch p := Preference(s); p {
	case PreferContrast, PreferAxial, PreferThinnest, PreferMostSlices:
		return p, nil
	}
	return "", fmt.Errorf("preference %q is not one of contrast, axial, thinnest, most_slices", s)
}

// Selection says how one series is chosen when several qualify.
type Selection struct {
	// Mode is SelectOne or SelectAll; empty means SelectOne.
	Mode SelectMode
	// Prefer lists the criteria in order; ties after all of them go to the
	// lowest SeriesNumber, then the lowest SeriesInstanceUID, so the choice is
	// deterministic.
	Prefer []Preference
}

// Set is an ordered list of rules with a default action and a selection.
type Set struct {
	Rules []Rule
	// Default is the action when no rule matches; empty means Skip.
	Default   Action
	Selection Selection
}

// Decision is the outcome for one series, with the reason.
type Decision struct {
	Series Series
	Action Action
	// Rule is the name of the matched rule; empty when none matched.
	Rule string
	// RuleIndex is the 1-based position of the matched rule; 0 when none.
	RuleIndex int
	// Priority is the matched rule's priority (empty: queue default).
	Priority string
	// Reason says in one sentence why the series is or is not processed.
	Reason string
	// Trace says, for each rule tried before the decision, why it did not match.
	Trace []string
}

// EvaluateSeries applies the rules in order to one series.
func (s *Set) EvaluateSeries(se Series) Decision {
	d := Decision{Series: se}
	for i, r := range s.Rules {
		ok, why := r.Match.check(se)
		if !ok {
			d.Trace = append(d.Trace, fmt.Sprintf("rule %q (#%d) did not match: %s", r.Name, i+1, why))
			continue
		}
		d.Action, d.Rule, d.RuleIndex, d.Priority = r.Action, r.Name, i+1, r.Priority
		d.Reason = fmt.Sprintf("rule %q (#%d) matched (%s): %s", r.Name, i+1, why, r.Action)
		return d
	}
	d.Action = s.Default
	if d.Action == "" {
		d.Action = Skip
	}
	d.Reason = fmt.Sprintf("no rule matched: default action %s", d.Action)
	if len(s.Rules) == 0 {
		d.Reason = fmt.Sprintf("no rules configured: default action %s", d.Action)
	}
	return d
}

// Evaluate decides for every series of one study, then applies the
// selection: with SelectOne, only the preferred qualifying series stays
// Process and the others become Skip with a reason naming the preferred one.
// Decisions are returned in the order of the input.
func (s *Set) Evaluate(series []Series) []Decision {
	ds := make([]Decision, len(series))
	var cand []int
	for i, se := range series {
		ds[i] = s.EvaluateSeries(se)
		if ds[i].Action == Process {
			cand = append(cand, i)
		}
	}
	if s.Selection.Mode == SelectAll || len(cand) < 2 {
		return ds
	}
	best := cand[0]
	for _, i := range cand[1:] {
		if s.better(series[i], series[best]) {
			best = i
		}
	}
	for _, i := range cand {
		if i == best {
			continue
		}
		why := s.preferReason(series[best], series[i])
		ds[i].Action = Skip
		ds[i].Reason = fmt.Sprintf("rule %q (#%d) matched, but series %s of the same study is preferred (%s)",
			ds[i].Rule, ds[i].RuleIndex, series[best].SeriesInstanceUID, why)
	}
	return ds
}

// compare returns >0 when a is preferred to b by p, <0 when b is, 0 on a tie.
func compare(p Preference, a, b Series) int {
	switch p {
	case PreferContrast:
		return boolCmp(a.ContrastBolusAgent != "", b.ContrastBolusAgent != "")
	case PreferAxial:
		return boolCmp(a.Axial(), b.Axial())
	case PreferThinnest:
		ta, tb := thick(a), thick(b)
		switch {
		case ta < tb:
			return 1
		case ta > tb:
			return -1
		}
	case PreferMostSlices:
		return a.NumberOfSlices - b.NumberOfSlices
	}
	return 0
}

func thick(s Series) float64 {
	if s.SliceThickness <= 0 {
		return math.Inf(1)
	}
	return s.SliceThickness
}

func boolCmp(a, b bool) int {
	switch {
	case a && !b:
		return 1
	case b && !a:
		return -1
	}
	return 0
}

// better reports whether a is preferred to b.
func (s *Set) better(a, b Series) bool {
	for _, p := range s.Selection.Prefer {
		if c := compare(p, a, b); c != 0 {
			return c > 0
		}
	}
	if a.SeriesNumber != b.SeriesNumber {
		return a.SeriesNumber < b.SeriesNumber
	}
	return a.SeriesInstanceUID < b.SeriesInstanceUID
}

// preferReason explains why best beat other.
func (s *Set) preferReason(best, other Series) string {
	for _, p := range s.Selection.Prefer {
		if compare(p, best, other) == 0 {
			continue
		}
		switch p {
		case PreferContrast:
			return "prefer contrast: it has ContrastBolusAgent, this one has none"
		case PreferAxial:
			return "prefer axial: it is axial, this one is not"
		case PreferThinnest:
			return fmt.Sprintf("prefer thinnest: SliceThickness %s mm < %s mm", thickStr(best), thickStr(other))
		case PreferMostSlices:
			return fmt.Sprintf("prefer most_slices: %d > %d instances", best.NumberOfSlices, other.NumberOfSlices)
		}
	}
	return "tie on every preference: lowest SeriesNumber, then SeriesInstanceUID"
}

func thickStr(s Series) string {
	if s.SliceThickness <= 0 {
		return "unknown"
	}
	return fmtNum(s.SliceThickness)
}

// check evaluates every condition; it returns the first failing one, or a
// summary of the conditions that held.
func (m *Match) check(s Series) (bool, string) {
	var held []string
	fail := func(format string, a ...any) (bool, string) { return false, fmt.Sprintf(format, a...) }
	if len(m.Modality) > 0 {
		if !inFold(m.Modality, s.Modality) {
			return fail("Modality %s not in %v", quoteOrAbsent(s.Modality), m.Modality)
		}
		held = append(held, "Modality "+s.Modality)
	}
	if len(m.BodyPartExamined) > 0 {
		if !inFold(m.BodyPartExamined, s.BodyPartExamined) {
			return fail("BodyPartExamined %s not in %v", quoteOrAbsent(s.BodyPartExamined), m.BodyPartExamined)
		}
		held = append(held, "BodyPartExamined "+s.BodyPartExamined)
	}
	if m.SeriesDescription != nil {
		if s.SeriesDescription == "" || !m.SeriesDescription.MatchString(s.SeriesDescription) {
			return fail("SeriesDescription %s does not match %q", quoteOrAbsent(s.SeriesDescription), m.SeriesDescription)
		}
		held = append(held, fmt.Sprintf("SeriesDescription matches %q", m.SeriesDescription))
	}
	if m.ProtocolName != nil {
		if s.ProtocolName == "" || !m.ProtocolName.MatchString(s.ProtocolName) {
			return fail("ProtocolName %s does not match %q", quoteOrAbsent(s.ProtocolName), m.ProtocolName)
		}
		held = append(held, fmt.Sprintf("ProtocolName matches %q", m.ProtocolName))
	}
	for _, v := range m.ImageTypeContains {
		if !containsFold(s.ImageType, v) {
			return fail("ImageType %s does not contain %s", strings.Join(s.ImageType, `\`), v)
		}
	}
	for _, v := range m.ImageTypeExcludes {
		if containsFold(s.ImageType, v) {
			return fail("ImageType %s contains excluded %s", strings.Join(s.ImageType, `\`), v)
		}
	}
	if len(m.ImageTypeContains)+len(m.ImageTypeExcludes) > 0 {
		held = append(held, "ImageType "+strings.Join(s.ImageType, `\`))
	}
	switch m.ContrastBolusAgent {
	case Present:
		if s.ContrastBolusAgent == "" {
			return fail("ContrastBolusAgent absent, rule requires it present")
		}
		held = append(held, "ContrastBolusAgent present")
	case Absent:
		if s.ContrastBolusAgent != "" {
			return fail("ContrastBolusAgent present, rule requires it absent")
		}
		held = append(held, "ContrastBolusAgent absent")
	}
	if m.SliceThickness != nil {
		if s.SliceThickness <= 0 {
			return fail("SliceThickness absent, rule requires %s mm", m.SliceThickness)
		}
		if !m.SliceThickness.Contains(s.SliceThickness) {
			return fail("SliceThickness %s mm not in %s", fmtNum(s.SliceThickness), m.SliceThickness)
		}
		held = append(held, fmt.Sprintf("SliceThickness %s mm in %s", fmtNum(s.SliceThickness), m.SliceThickness))
	}
	if m.NumberOfSlices != nil {
		if s.NumberOfSlices <= 0 {
			return fail("number of slices unknown, rule requires %s", m.NumberOfSlices)
		}
		if !m.NumberOfSlices.Contains(float64(s.NumberOfSlices)) {
			return fail("number of slices %d not in %s", s.NumberOfSlices, m.NumberOfSlices)
		}
		held = append(held, fmt.Sprintf("%d slices in %s", s.NumberOfSlices, m.NumberOfSlices))
	}
	if len(m.Manufacturer) > 0 {
		if !inFold(m.Manufacturer, s.Manufacturer) {
			return fail("Manufacturer %s not in %v", quoteOrAbsent(s.Manufacturer), m.Manufacturer)
		}
		held = append(held, fmt.Sprintf("Manufacturer %q", s.Manufacturer))
	}
	if len(m.Source) > 0 {
		if !slices.Contains(m.Source, s.Source) {
			return fail("source %s not in %v", quoteOrAbsent(s.Source), m.Source)
		}
		held = append(held, "source "+s.Source)
	}
	if len(held) == 0 {
		return true, "no conditions"
	}
	return true, strings.Join(held, "; ")
}

func quoteOrAbsent(v string) string {
	if v == "" {
		return "absent"
	}
	return strconv.Quote(v)
}

func inFold(list []string, v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	for _, w := range list {
		if strings.EqualFold(strings.TrimSpace(w), v) {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	for _, w := range list {
		if strings.EqualFold(strings.TrimSpace(w), v) {
			return true
		}
	}
	return false
}
