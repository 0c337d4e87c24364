package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/spf13/cobra"

	"github.com/mhpnet/node/dicom"
)

func newInspectCmd() *cobra.Command {
	var asJSON, noHU bool
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "List the DICOM series in a folder, their geometry, and what would be refused and why",
		Long: `inspect reads every file under DIR (recursively), groups the CT slices by
SeriesInstanceUID and prints, for each series, its UIDs, modality, description,
slice count, size, spacing, origin, orientation, transfer syntax and HU range.
Series that cannot be processed are listed with the reason (gantry tilt, missing
slices, unsupported transfer syntax, ...), and so are the files that are not CT
slices (localizers, reports, non-DICOM files). Patient names and IDs are never
printed.

Exit code 0 when at least one series is usable, 3 when none is, 2 when DIR
does not exist.`,
		Example: `  node inspect .testdata/ircadb/3Dircadb1.1/PATIENT_DICOM
  node inspect --json /data/incoming | jq '.series[].slices'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := inspectDir(cmd.Context(), args[0], !noHU)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.print(out)
			}
			if len(rep.Series) == 0 {
				return withCode(ExitRefused, fmt.Errorf("inspect %s: no usable CT series: %w", args[0], rep.err))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON report for scripts")
	cmd.Flags().BoolVar(&noHU, "no-hu", false, "skip decoding pixels (no HU range; faster)")
	return cmd
}

// inspectReport is what inspect prints; the JSON keys are stable.
type inspectReport struct {
	Dir     string           `json:"dir"`
	Series  []inspectSeries  `json:"series"`
	Refused []inspectRefusal `json:"refused"`
	Skipped []dicom.Skipped  `json:"skipped"`
	err     error
}

type inspectSeries struct {
	StudyInstanceUID    string        `json:"study_instance_uid"`
	SeriesInstanceUID   string        `json:"series_instance_uid"`
	FrameOfReferenceUID string        `json:"frame_of_reference_uid,omitempty"`
	Modality            string        `json:"modality"`
	SOPClassUID         string        `json:"sop_class_uid"`
	SOPClassName        string        `json:"sop_class_name"`
	SeriesDescription   string        `json:"series_description"`
	SeriesNumber        int           `json:"series_number"`
	Slices              int           `json:"slices"`
	Size                [3]int        `json:"size"`
	SpacingMM           [3]float64    `json:"spacing_mm"`
	SliceThicknessMM    float64       `json:"slice_thickness_mm"`
	OriginMM            [3]float64    `json:"origin_mm"`
	Direction           [3][3]float64 `json:"direction"`
	TransferSyntaxUID   string        `json:"transfer_syntax_uid"`
	TransferSyntaxName  string        `json:"transfer_syntax_name"`
	HUMin               *int16        `json:"hu_min,omitempty"`
	HUMax               *int16        `json:"hu_max,omitempty"`
	PixelPaddingValue   *int          `json:"pixel_padding_value,omitempty"`
}

type inspectRefusal struct {
	SeriesInstanceUID string `json:"series_instance_uid"`
	Modality          string `json:"modality"`
	SeriesDescription string `json:"series_description"`
	Objects           int    `json:"objects"`
	Reason            string `json:"reason"`
}

// inspectDir scans dir and, with hu, decodes each usable series (one at a
// time) for its HU range.
func inspectDir(ctx context.Context, dir string, hu bool) (*inspectReport, error) {
	sc, err := dicom.ReadDir(ctx, dir, readerOptions())
	if err != nil {
		return nil, err
	}
	return describeScan(ctx, dir, sc, hu)
}

// describeScan builds the report of a scan of dir. Interrupted (ctx done,
// e.g. Ctrl-C) it returns the error, not a report where the series left
// undecoded would show as refused and the exit code as success.
func describeScan(ctx context.Context, dir string, sc *dicom.Scan, hu bool) (*inspectReport, error) {
	rep := &inspectReport{Dir: dir, Series: []inspectSeries{}, Refused: []inspectRefusal{}, Skipped: sc.Skipped}
	if rep.Skipped == nil {
		rep.Skipped = []dicom.Skipped{}
	}
	for _, s := range sc.Series {
		g := s.Geometry
		is := inspectSeries{
			StudyInstanceUID: s.StudyInstanceUID, SeriesInstanceUID: s.SeriesInstanceUID,
			FrameOfReferenceUID: s.FrameOfReferenceUID, Modality: s.Modality, SOPClassUID: s.SOPClassUID,
			SOPClassName:      dicom.SOPClassName(s.SOPClassUID),
			SeriesDescription: s.SeriesDescription, SeriesNumber: s.SeriesNumber, Slices: len(s.Instances),
			Size: g.Size, SpacingMM: g.Spacing, SliceThicknessMM: s.SliceThickness, OriginMM: g.Origin,
			Direction: g.Direction, TransferSyntaxUID: s.TransferSyntaxUID,
			TransferSyntaxName: dicom.TransferSyntaxName(s.TransferSyntaxUID),
		}
		if hu {
			v, err := s.LoadVolume(ctx)
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("inspect %s: interrupted: %w", dir, cerr)
			}
			if err != nil {
				// A series that scans but does not decode is refused too.
				rep.Refused = append(rep.Refused, refusalOf(s, len(s.Instances), err))
				continue
			}
			lo, hi := int16(math.MaxInt16), int16(math.MinInt16)
			for _, h := range v.HU {
				lo, hi = min(lo, h), max(hi, h)
			}
			is.HUMin, is.HUMax = &lo, &hi
		}
		if f := s.Instances[0].Format; f.HasPadding {
			p := f.PaddingValue
			is.PixelPaddingValue = &p
		}
		rep.Series = append(rep.Series, is)
	}
	for _, r := range sc.Refused {
		rep.Refused = append(rep.Refused, refusalOf(r.Series, r.Objects, r.Err))
	}
	if len(rep.Series) == 0 {
		_, rep.err = sc.Only()
		if rep.err == nil && len(rep.Refused) > 0 {
			rep.err = fmt.Errorf("%s", rep.Refused[0].Reason)
		}
	}
	return rep, nil
}

func refusalOf(s *dicom.Series, objects int, err error) inspectRefusal {
	return inspectRefusal{SeriesInstanceUID: s.SeriesInstanceUID, Modality: s.Modality,
		SeriesDescription: s.SeriesDescription, Objects: objects, Reason: err.Error()}
}

// print writes the human-readable report.
func (r *inspectReport) print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d usable series, %d refused, %d file(s) skipped\n",
		r.Dir, len(r.Series), len(r.Refused), len(r.Skipped))
	for _, s := range r.Series {
		fmt.Fprintf(w, "\nseries %s\n", s.SeriesInstanceUID)
		fmt.Fprintf(w, "  study              %s\n", s.StudyInstanceUID)
		if s.FrameOfReferenceUID != "" {
			fmt.Fprintf(w, "  frame of reference %s\n", s.FrameOfReferenceUID)
		} else {
			fmt.Fprintf(w, "  frame of reference (none)\n")
		}
		fmt.Fprintf(w, "  modality           %s, SOP class %s (%s), series number %d\n",
			s.Modality, s.SOPClassUID, s.SOPClassName, s.SeriesNumber)
		fmt.Fprintf(w, "  description        %q\n", s.SeriesDescription)
		fmt.Fprintf(w, "  slices             %d of %d x %d (columns x rows)\n", s.Slices, s.Size[0], s.Size[1])
		fmt.Fprintf(w, "  spacing            %.4g x %.4g x %.4g mm (slice thickness %.4g mm)\n",
			s.SpacingMM[0], s.SpacingMM[1], s.SpacingMM[2], s.SliceThicknessMM)
		fmt.Fprintf(w, "  origin             (%.3f, %.3f, %.3f) mm LPS\n", s.OriginMM[0], s.OriginMM[1], s.OriginMM[2])
		d := s.Direction
		fmt.Fprintf(w, "  orientation        row %s, column %s, normal %s\n", vec(d[0]), vec(d[1]), vec(d[2]))
		fmt.Fprintf(w, "  transfer syntax    %s (%s)\n", s.TransferSyntaxUID, s.TransferSyntaxName)
		if s.HUMin != nil {
			fmt.Fprintf(w, "  HU range           %d .. %d\n", *s.HUMin, *s.HUMax)
		}
		if s.PixelPaddingValue != nil {
			fmt.Fprintf(w, "  pixel padding      stored %d, read as %d HU\n", *s.PixelPaddingValue, dicom.PaddingHU)
		}
	}
	if len(r.Refused) > 0 {
		fmt.Fprintf(w, "\nrefused:\n")
		for _, f := range r.Refused {
			fmt.Fprintf(w, "  %s (%s, %q, %d object(s)):\n    %s\n",
				orNone(f.SeriesInstanceUID), f.Modality, f.SeriesDescription, f.Objects, f.Reason)
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "\nskipped:\n")
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", s.Path, s.Reason)
		}
	}
}

func vec(v [3]float64) string { return fmt.Sprintf("(%.4g, %.4g, %.4g)", v[0], v[1], v[2]) }

func orNone(s string) string {
	if s == "" {
		return "(no SeriesInstanceUID)"
	}
	return s
}
