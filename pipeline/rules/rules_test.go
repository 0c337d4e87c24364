package rules

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func f(v float64) *float64 { return &v }

func mustPattern(t *testing.T, expr string) *Pattern {
	t.Helper()
	p, err := NewPattern(expr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// portal is a contrast-enhanced axial abdominal CT, the series the node is for.
var portal = Series{
	Source: "orthanc", SeriesInstanceUID: "1.2.3.1", SeriesNumber: 3, Modality: "CT",
	BodyPartExamined: "ABDOMEN", SeriesDescription: "Portal venous 1.0 B30f", ProtocolName: "Abdomen PV",
	Manufacturer: "SIEMENS", ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"},
	ContrastBolusAgent: "Iomeron 350", SliceThickness: 1, NumberOfSlices: 250,
}

func with(s Series, mod func(*Series)) Series { mod(&s); return s }

func TestEvaluateSeries(t *testing.T) {
	ctRule := Rule{Name: "ct-liver", Action: Process, Priority: "normal", Match: Match{
		Modality:           []string{"CT"},
		BodyPartExamined:   []string{"ABDOMEN", "LIVER"},
		SeriesDescription:  mustPattern(t, `(?i).*(portal|venous).*`),
		ImageTypeContains:  []string{"ORIGINAL", "AXIAL"},
		ImageTypeExcludes:  []string{"LOCALIZER"},
		ContrastBolusAgent: Present,
		SliceThickness:     &Range{Min: f(0.5), Max: f(5)},
		NumberOfSlices:     &Range{Min: f(40)},
		Manufacturer:       []string{"siemens", "GE MEDICAL SYSTEMS"},
		Source:             []string{"orthanc"},
	}}
	skipMR := Rule{Name: "no-mr", Action: Skip, Match: Match{Modality: []string{"MR"}}}
	set := &Set{Rules: []Rule{skipMR, ctRule}}
	tests := []struct {
		name       string
		in         Series
		wantAction Action
		wantRule   string
		wantReason string // substring
	}{
		{"portal venous CT processed by rule 2", portal, Process, "ct-liver", `rule "ct-liver" (#2) matched`},
		{"MR skipped by rule 1", with(portal, func(s *Series) { s.Modality = "MR" }), Skip, "no-mr", `rule "no-mr" (#1) matched (Modality MR): skip`},
		{"no contrast", with(portal, func(s *Series) { s.ContrastBolusAgent = "" }), Skip, "", "no rule matched"},
		{"too thick", with(portal, func(s *Series) { s.SliceThickness = 7.5 }), Skip, "", ""},
		{"thickness absent", with(portal, func(s *Series) { s.SliceThickness = 0 }), Skip, "", ""},
		{"too few slices", with(portal, func(s *Series) { s.NumberOfSlices = 39 }), Skip, "", ""},
		{"exactly 40 slices (inclusive bound)", with(portal, func(s *Series) { s.NumberOfSlices = 40 }), Process, "ct-liver", ""},
		{"localizer excluded", with(portal, func(s *Series) { s.ImageType = []string{"ORIGINAL", "PRIMARY", "AXIAL", "LOCALIZER"} }), Skip, "", ""},
		{"derived lacks ORIGINAL", with(portal, func(s *Series) { s.ImageType = []string{"DERIVED", "SECONDARY", "AXIAL"} }), Skip, "", ""},
		{"description anchored: substring without .* fails", with(portal, func(s *Series) { s.SeriesDescription = "arterial" }), Skip, "", ""},
		{"manufacturer case-insensitive", with(portal, func(s *Series) { s.Manufacturer = "Siemens" }), Process, "ct-liver", ""},
		{"unknown manufacturer", with(portal, func(s *Series) { s.Manufacturer = "Philips" }), Skip, "", ""},
		{"other source PACS", with(portal, func(s *Series) { s.Source = "dcm4chee" }), Skip, "", ""},
		{"body part absent", with(portal, func(s *Series) { s.BodyPartExamined = "" }), Skip, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := set.EvaluateSeries(tc.in)
			if d.Action != tc.wantAction || d.Rule != tc.wantRule {
				t.Fatalf("got action %s rule %q (reason %q, trace %q), want %s %q", d.Action, d.Rule, d.Reason, d.Trace, tc.wantAction, tc.wantRule)
			}
			if !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.wantReason)
			}
			if d.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestEvaluateTraceNamesFailedCondition(t *testing.T) {
	set := &Set{Rules: []Rule{{Name: "thin", Action: Process, Match: Match{SliceThickness: &Range{Max: f(3)}}}}}
	d := set.EvaluateSeries(with(portal, func(s *Series) { s.SliceThickness = 5 }))
	want := []string{`rule "thin" (#1) did not match: SliceThickness 5 mm not in [-inf, 3]`}
	if diff := cmp.Diff(want, d.Trace); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if d.Reason != "no rule matched: default action skip" {
		t.Errorf("reason = %q", d.Reason)
	}
}

func TestEvaluateSelection(t *testing.T) {
	thin := with(portal, func(s *Series) { s.SeriesInstanceUID = "1.2.3.2"; s.SeriesNumber = 4; s.SliceThickness = 0.625 })
	thick := with(portal, func(s *Series) { s.SeriesInstanceUID = "1.2.3.3"; s.SeriesNumber = 2; s.SliceThickness = 5 })
	plain := with(portal, func(s *Series) {
		s.SeriesInstanceUID = "1.2.3.4"
		s.SeriesNumber = 1
		s.ContrastBolusAgent = ""
		s.SliceThickness = 0.5
	})
	coronal := with(portal, func(s *Series) {
		s.SeriesInstanceUID = "1.2.3.5"
		s.SeriesNumber = 5
		s.SliceThickness = 0.5
		s.ImageType = []string{"DERIVED", "SECONDARY"}
		s.ImageOrientationPatient = []float64{1, 0, 0, 0, 0, -1}
	})
	all := []Series{portal, thin, thick, plain, coronal}
	processAll := []Rule{{Name: "ct", Action: Process, Match: Match{Modality: []string{"CT"}}}}
	tests := []struct {
		name   string
		sel    Selection
		want   []Action
		reason string // reason for the first skipped candidate
	}{
		{"all", Selection{Mode: SelectAll}, []Action{Process, Process, Process, Process, Process}, ""},
		{"contrast, axial, thinnest", Selection{Mode: SelectOne, Prefer: []Preference{PreferContrast, PreferAxial, PreferThinnest}},
			[]Action{Skip, Process, Skip, Skip, Skip}, "series 1.2.3.2 of the same study is preferred (prefer thinnest: SliceThickness 0.625 mm < 1 mm)"},
		{"thinnest alone picks the first 0.5 mm by SeriesNumber", Selection{Prefer: []Preference{PreferThinnest}},
			[]Action{Skip, Skip, Skip, Process, Skip}, "prefer thinnest: SliceThickness 0.5 mm < 1 mm"},
		{"axial then thinnest", Selection{Prefer: []Preference{PreferAxial, PreferThinnest}},
			[]Action{Skip, Skip, Skip, Process, Skip}, ""},
		{"no preference: lowest SeriesNumber", Selection{}, []Action{Skip, Skip, Skip, Process, Skip}, "tie on every preference"},
		{"most slices then contrast", Selection{Prefer: []Preference{PreferMostSlices, PreferContrast}},
			[]Action{Skip, Skip, Process, Skip, Skip}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := &Set{Rules: processAll, Selection: tc.sel}
			ds := set.Evaluate(all)
			var got []Action
			for _, d := range ds {
				got = append(got, d.Action)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("actions (-want +got):\n%s", diff)
			}
			if tc.reason != "" && !strings.Contains(ds[0].Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", ds[0].Reason, tc.reason)
			}
		})
	}
}

func TestAxial(t *testing.T) {
	tests := []struct {
		name string
		s    Series
		want bool
	}{
		{"ImageType AXIAL", Series{ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"}}, true},
		{"axial orientation", Series{ImageOrientationPatient: []float64{1, 0, 0, 0, 1, 0}}, true},
		{"tilted 20 degrees", Series{ImageOrientationPatient: []float64{1, 0, 0, 0, 0.9397, -0.342}}, true},
		{"coronal", Series{ImageOrientationPatient: []float64{1, 0, 0, 0, 0, -1}}, false},
		{"sagittal", Series{ImageOrientationPatient: []float64{0, 1, 0, 0, 0, -1}}, false},
		{"unknown", Series{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Axial(); got != tc.want {
				t.Errorf("Axial() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewPatternAnchored(t *testing.T) {
	p := mustPattern(t, "portal|venous")
	for v, want := range map[string]bool{"portal": true, "venous": true, "portal venous": false, "xportal": false} {
		if got := p.MatchString(v); got != want {
			t.Errorf("MatchString(%q) = %v, want %v", v, got, want)
		}
	}
	if _, err := NewPattern("(unclosed"); err == nil {
		t.Error("want error for (unclosed")
	}
}
