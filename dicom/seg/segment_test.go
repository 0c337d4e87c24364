package seg

import (
	"errors"
	"strings"
	"testing"
)

func validSegment() Segment {
	return Segment{
		Number: 1, Label: "Liver",
		Category: CodeAnatomicalStructure, Type: CodeLiver,
		AlgorithmType: AlgorithmAutomatic,
		Algorithm:     Algorithm{Name: AlgorithmName, Version: "1.0", Family: CodeArtificialIntelligence},
		RGB:           RGBLiver, Labels: []uint8{2, 1, 2},
	}
}

func TestNewSegment(t *testing.T) {
	s, err := NewSegment(validSegment())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Labels; len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("Labels = %v, want sorted and unique [1 2]", got)
	}
	manual := validSegment()
	manual.AlgorithmType, manual.Algorithm = AlgorithmManual, Algorithm{}
	if _, err := NewSegment(manual); err != nil {
		t.Errorf("MANUAL segment without algorithm: %v", err)
	}
}

func TestNewSegmentInvalid(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(s *Segment)
		wantRule string
	}{
		{"number zero", func(s *Segment) { s.Number = 0 }, "SegmentNumber must be in 1..65535"},
		{"number too big", func(s *Segment) { s.Number = 70000 }, "SegmentNumber must be in 1..65535"},
		{"empty label", func(s *Segment) { s.Label = " " }, "SegmentLabel must be 1..64"},
		{"backslash label", func(s *Segment) { s.Label = `a\b` }, "SegmentLabel must be 1..64"},
		{"long label", func(s *Segment) { s.Label = strings.Repeat("x", 65) }, "SegmentLabel must be 1..64"},
		{"category incomplete", func(s *Segment) { s.Category.CodeMeaning = "" }, "SegmentedPropertyCategory code"},
		{"type retired SRT", func(s *Segment) { s.Type = Code{"T-62000", "SRT", "Liver"} }, "retired scheme SRT"},
		{"region incomplete", func(s *Segment) { s.AnatomicRegion = &Code{CodeValue: "10200004"} }, "AnatomicRegion code"},
		{"automatic without name", func(s *Segment) { s.Algorithm.Name = "" }, "needs an AlgorithmName"},
		{"automatic without version", func(s *Segment) { s.Algorithm.Version = "" }, "needs an AlgorithmVersion"},
		{"automatic without family", func(s *Segment) { s.Algorithm.Family = Code{} }, "AlgorithmFamily code"},
		{"manual with algorithm", func(s *Segment) { s.AlgorithmType = AlgorithmManual }, "MANUAL segment must not carry"},
		{"unknown algorithm type", func(s *Segment) { s.AlgorithmType = "MAGIC" }, "SegmentAlgorithmType must be"},
		{"no labels", func(s *Segment) { s.Labels = nil }, "at least one label"},
		{"background label", func(s *Segment) { s.Labels = []uint8{0, 1} }, "label 0 is background"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSegment()
			tc.mutate(&s)
			_, err := NewSegment(s)
			if !errors.Is(err, ErrInvalidSegment) {
				t.Fatalf("err = %v, want ErrInvalidSegment", err)
			}
			var se *SegmentError
			if !errors.As(err, &se) || !strings.Contains(se.Rule, tc.wantRule) {
				t.Errorf("rule = %q, want it to contain %q", err, tc.wantRule)
			}
		})
	}
}

func TestNodeSegments(t *testing.T) {
	segs, err := NodeSegments("mhpnet-0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	liver, tumor := segs[0], segs[1]
	if liver.Number != 1 || liver.Label != "Liver" || liver.Category.CodeValue != "91723000" || liver.Type.CodeValue != "10200004" || liver.AnatomicRegion != nil {
		t.Errorf("liver = %+v", liver)
	}
	if tumor.Number != 2 || tumor.Label != "Liver tumor" || tumor.Category.CodeValue != "49755003" || tumor.Type.CodeValue != "108369006" ||
		tumor.AnatomicRegion == nil || tumor.AnatomicRegion.CodeValue != "10200004" {
		t.Errorf("tumor = %+v", tumor)
	}
	if len(liver.Labels) != 2 || liver.Labels[0] != 1 || liver.Labels[1] != 2 || len(tumor.Labels) != 1 || tumor.Labels[0] != 2 {
		t.Errorf("labels liver %v tumor %v, want [1 2] and [2]", liver.Labels, tumor.Labels)
	}
	for _, s := range segs {
		if s.AlgorithmType != AlgorithmAutomatic || s.Algorithm.Name != "MHP-Net" || s.Algorithm.Version != "mhpnet-0.1.0" || s.Algorithm.Family.CodeValue != "123110" {
			t.Errorf("segment %d algorithm %+v %s", s.Number, s.Algorithm, s.AlgorithmType)
		}
	}
	if _, err := NodeSegments(""); !errors.Is(err, ErrInvalidSegment) {
		t.Errorf("empty model version: err = %v, want ErrInvalidSegment", err)
	}
}

func TestRGBToCIELab(t *testing.T) {
	tests := []struct {
		name string
		rgb  [3]uint8
		want CIELab
		tol  int
	}{
		// dcmqi's liver.dcm: RGB 221,130,101 (seg-example.json) is stored as
		// 41661\41167\40792; dcmqi rounds its constants a little differently.
		{"dcmqi liver", [3]uint8{221, 130, 101}, CIELab{41661, 41167, 40792}, 3},
		// Exact ends of the scale: L*=0 and 100, a*=b*=0 -> 32896 (128/255).
		{"black", [3]uint8{0, 0, 0}, CIELab{0, 32896, 32896}, 0},
		{"white", [3]uint8{255, 255, 255}, CIELab{65535, 32896, 32896}, 0},
		// sRGB red: L* 53.24, a* 80.09, b* 67.20 (D65), the textbook value.
		{"red", [3]uint8{255, 0, 0}, CIELab{34891, 53480, 50167}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RGBToCIELab(tc.rgb)
			for i := range got {
				if d := int(got[i]) - int(tc.want[i]); d > tc.tol || d < -tc.tol {
					t.Errorf("RGBToCIELab(%v) = %v, want %v ± %d", tc.rgb, got, tc.want, tc.tol)
					break
				}
			}
		})
	}
}

func TestFormatDS(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{-0.0, "0"},
		{1.6, "1.6"},
		{0.570312, "0.570312"},
		{-235.199997, "-235.199997"},
		{0.1 + 0.2, "0.3"},
		{-126.69000000000001, "-126.69"},
		{1e-20, "0"},
		{123456789012.345678, "123456789012.346"},
	}
	for _, tc := range tests {
		got := formatDS(tc.v)
		if len(got) > 16 {
			t.Errorf("formatDS(%v) = %q is longer than 16", tc.v, got)
		}
		if got != tc.want {
			t.Errorf("formatDS(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
