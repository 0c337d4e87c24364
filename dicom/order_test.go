package dicom

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestReadSeriesSynthetic writes small series with one defect each and
// checks the typed refusal and its details.
func TestReadSeriesSynthetic(t *testing.T) {
	tilt := 12.0
	th := tilt * math.Pi / 180
	tests := []struct {
		name   string
		slices []synthSlice
		check  func(t *testing.T, s *Series, err error)
	}{
		{
			name:   "ordered by position, not file name or InstanceNumber",
			slices: synthSeries("2.25.1", []float64{6, -2, 4, 0, 2}, nil),
			check: func(t *testing.T, s *Series, err error) {
				if err != nil {
					t.Fatal(err)
				}
				var zs []float64
				for _, in := range s.Instances {
					zs = append(zs, in.ImagePositionPatient[2])
				}
				want := []float64{-2, 0, 2, 4, 6}
				for i := range want {
					if zs[i] != want[i] {
						t.Fatalf("z order %v, want %v", zs, want)
					}
				}
				g := s.Geometry
				if g.Size != [3]int{4, 3, 5} || g.Spacing != [3]float64{0.75, 0.5, 2} || g.Origin != [3]float64{-10, -20, -2} {
					t.Errorf("geometry %+v", g)
				}
			},
		},
		{
			name: "gantry tilt reports the angle",
			slices: synthSeries("2.25.2", steps(0, 2, 5), func(i int, s *synthSlice) {
				// Tilted acquisition: the column direction leans by the tilt, positions advance along z.
				s.IOP = [6]float64{1, 0, 0, 0, math.Cos(th), -math.Sin(th)}
			}),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrGantryTilt
				if !errors.As(err, &e) || !errors.Is(err, ErrGeometry) || !errors.Is(err, ErrRefused) {
					t.Fatalf("err = %v, want ErrGantryTilt", err)
				}
				if math.Abs(e.Degrees-tilt) > 0.01 {
					t.Errorf("Degrees = %.3f, want %.1f", e.Degrees, tilt)
				}
				if !strings.Contains(err.Error(), "12.00°") {
					t.Errorf("message %q does not give the angle", err)
				}
			},
		},
		{
			name:   "missing slice says where",
			slices: synthSeries("2.25.3", []float64{0, 2, 4, 8, 10, 12}, nil),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrMissingSlices
				if !errors.As(err, &e) || !errors.Is(err, ErrGeometry) {
					t.Fatalf("err = %v, want ErrMissingSlices", err)
				}
				if e.After != 2 || e.AfterPosition != 4 || e.Gap != 4 || e.Missing != 1 || e.Spacing != 2 || e.Gaps != 1 {
					t.Errorf("got %+v, want after slice 2 at 4 mm, gap 4 mm, 1 missing", e)
				}
				if e.AfterSOPInstanceUID != "2.25.3.3" {
					t.Errorf("AfterSOPInstanceUID = %s", e.AfterSOPInstanceUID)
				}
			},
		},
		{
			name:   "duplicate position",
			slices: synthSeries("2.25.4", []float64{0, 2, 2, 4}, nil),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrDuplicatePosition
				if !errors.As(err, &e) || e.Position != 2 {
					t.Fatalf("err = %v, want ErrDuplicatePosition at 2 mm", err)
				}
			},
		},
		{
			name:   "non-uniform spacing",
			slices: synthSeries("2.25.5", []float64{0, 2, 4, 5.3, 7.3, 9.3}, nil),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrNonUniformSpacing
				if !errors.As(err, &e) {
					t.Fatalf("err = %v, want ErrNonUniformSpacing", err)
				}
				if e.At != 2 || math.Abs(e.Step-1.3) > 1e-9 || e.Median != 2 {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name:   "within tolerance is uniform",
			slices: synthSeries("2.25.6", []float64{0, 2.005, 4, 6.01, 8}, nil),
			check: func(t *testing.T, s *Series, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(s.Geometry.Spacing[2]-2) > 1e-9 {
					t.Errorf("spacing %v", s.Geometry.Spacing[2])
				}
			},
		},
		{
			name: "mixed sizes",
			slices: synthSeries("2.25.7", steps(0, 2, 4), func(i int, s *synthSlice) {
				if i == 2 {
					s.Rows = 4
					s.Stored = make([]int, 16)
				}
			}),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrMixedGeometry
				if !errors.As(err, &e) || !strings.HasPrefix(e.Attribute, "Rows") {
					t.Fatalf("err = %v, want ErrMixedGeometry on Rows", err)
				}
			},
		},
		{
			name: "mixed orientations",
			slices: synthSeries("2.25.8", steps(0, 2, 4), func(i int, s *synthSlice) {
				if i == 1 {
					s.IOP = [6]float64{0, 1, 0, 1, 0, 0}
				}
			}),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrMixedGeometry
				if !errors.As(err, &e) || !strings.HasPrefix(e.Attribute, "ImageOrientationPatient") {
					t.Fatalf("err = %v, want ErrMixedGeometry on ImageOrientationPatient", err)
				}
			},
		},
		{
			name: "not CT",
			slices: synthSeries("2.25.9", steps(0, 2, 3), func(i int, s *synthSlice) {
				s.Modality, s.SOPClass = "MR", "1.2.840.10008.5.1.4.1.1.4"
			}),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrNotCT
				if !errors.As(err, &e) || e.Modality != "MR" || !errors.Is(err, ErrUnsupported) {
					t.Fatalf("err = %v, want ErrNotCT{MR}", err)
				}
			},
		},
		{
			name: "empty SeriesInstanceUID",
			slices: synthSeries("", steps(0, 2, 3), func(i int, s *synthSlice) {
				s.SOP = "2.25.10." + string(rune('1'+i))
			}),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrMissingUID
				if !errors.As(err, &e) || e.Tag != "SeriesInstanceUID (0020,000E)" || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrMissingUID on SeriesInstanceUID", err)
				}
			},
		},
		{
			name: "localizer in the series is skipped",
			slices: synthSeries("2.25.11", []float64{0, 2, 4, 50}, func(i int, s *synthSlice) {
				if i == 3 {
					s.ImageType = []string{"ORIGINAL", "PRIMARY", "LOCALIZER"}
					s.IOP = [6]float64{1, 0, 0, 0, 0, -1}
				}
			}),
			check: func(t *testing.T, s *Series, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Instances) != 3 {
					t.Errorf("%d slices, want 3 without the localizer", len(s.Instances))
				}
			},
		},
		{
			name: "dose screen in its own series is skipped",
			slices: append(synthSeries("2.25.14", steps(0, 2, 3), nil),
				synthSeries("2.25.15", []float64{0}, func(i int, s *synthSlice) {
					s.ImageType = []string{"DERIVED", "SECONDARY", "SCREEN SAVE"}
				})...),
			check: func(t *testing.T, s *Series, err error) {
				if err != nil || s.SeriesInstanceUID != "2.25.14" {
					t.Fatalf("series %v, err %v; want 2.25.14 alone", s, err)
				}
			},
		},
		{
			name: "several series",
			slices: append(synthSeries("2.25.12", steps(0, 2, 2), nil),
				synthSeries("2.25.13", steps(0, 2, 2), nil)...),
			check: func(t *testing.T, s *Series, err error) {
				var e ErrSeveralSeries
				if !errors.As(err, &e) || !errors.Is(err, ErrAmbiguous) {
					t.Fatalf("err = %v, want ErrSeveralSeries", err)
				}
				if len(e.UIDs) != 2 || !strings.Contains(err.Error(), "2.25.12") || !strings.Contains(err.Error(), "2.25.13") {
					t.Errorf("UIDs %v", e.UIDs)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSlices(t, dir, tc.slices)
			s, err := ReadSeries(context.Background(), dir, Options{})
			tc.check(t, s, err)
		})
	}
}

// TestStackZDescendingNormal checks a stack whose normal points to -z:
// order follows the normal, so z runs downwards and spacing stays positive.
func TestStackZDescendingNormal(t *testing.T) {
	ins := make([]Instance, 4)
	for i := range ins {
		ins[i] = Instance{SOPInstanceUID: string(rune('a' + i)), ImagePositionPatient: [3]float64{0, 0, float64(i) * 3},
			ImageOrientationPatient: [6]float64{-1, 0, 0, 0, 1, 0}, PixelSpacing: [2]float64{1, 1},
			Format: PixelFormat{Rows: 2, Columns: 2}}
	}
	g, err := stack(ins)
	if err != nil {
		t.Fatal(err)
	}
	if g.Direction[2] != [3]float64{0, 0, -1} || g.Origin[2] != 9 || g.Spacing[2] != 3 {
		t.Errorf("geometry %+v", g)
	}
	if ins[0].SOPInstanceUID != "d" {
		t.Errorf("first slice %s, want d (highest z)", ins[0].SOPInstanceUID)
	}
}
