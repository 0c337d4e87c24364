package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/volume"
)

// errModelUnavailable means the command was asked to run the MHP-Net model,
// which is not built into the node yet.
var errModelUnavailable = errors.New("the embedded MHP-Net model is not available yet")

// segmentFlags are the options of node segment.
type segmentFlags struct {
	in, out, labels, model string
	allSlices              bool
	seriesNumber           int
}

func newSegmentCmd() *cobra.Command {
	var f segmentFlags
	cmd := &cobra.Command{
		Use:   "segment --in DIR --out SEG.dcm [--labels MASKS_DIR]",
		Short: "Segment one CT series from a folder and write a DICOM SEG",
		Long: `segment reads the one CT series in DIR, finds the liver and the liver tumors and
writes them as a DICOM Segmentation (segment 1 Liver, segment 2 Liver tumor)
that references every source slice. Reprocessing the same series with the same
model gives the same SEG UIDs, so a PACS keeps one copy.

Until the MHP-Net model is built into the node, --labels takes the labels from
an IRCAD MASKS_DICOM folder (liver and livertumor* mask series on the same
grid); the SEG then describes them as MANUAL segments.

Prints a summary: segments, frames, voxel counts and the liver volume in mL.
Patient names and IDs are never printed.

Exit codes: 0 written; 1 failure (e.g. no model); 2 bad flags; 3 the series or
the labels were refused (the message says why).`,
		Example: `  node segment --in .testdata/ircadb/3Dircadb1.1/PATIENT_DICOM \
      --labels .testdata/ircadb/3Dircadb1.1/MASKS_DICOM --out seg.dcm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.in == "" || f.out == "" {
				return usageErrorf("segment: --in and --out are required (see 'node segment --help')")
			}
			if f.labels != "" && f.model != "" {
				return usageErrorf("segment: --labels and --model exclude each other: take labels from a folder or from a model")
			}
			if f.seriesNumber < 1 || f.seriesNumber > 2147483647 {
				return usageErrorf("segment: --series-number %d must be a positive integer (IS)", f.seriesNumber)
			}
			return runSegment(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.in, "in", "", "folder holding the CT series (searched recursively)")
	fl.StringVar(&f.out, "out", "", "SEG file to write")
	fl.StringVar(&f.labels, "labels", "", "IRCAD MASKS_DICOM folder to take the labels from instead of the model")
	fl.StringVar(&f.model, "model", "", "model file to use instead of the embedded model")
	fl.BoolVar(&f.allSlices, "all-slices", false, "write a frame for every slice, not only between the first and last non-empty slice of each segment")
	fl.IntVar(&f.seriesNumber, "series-number", seg.DefaultSeriesNumber, "SeriesNumber of the new SEG series")
	return cmd
}

// labelResult is where the labels came from and how the SEG describes them.
type labelResult struct {
	labels   *volume.LabelVolume
	segments []seg.Segment
	// version enters the SEG UIDs: the model version, or a digest of
	// imported labels so that other labels give another SEG.
	version     string
	description string
}

func runSegment(ctx context.Context, stdout, stderr io.Writer, f segmentFlags) error {
	series, err := dicom.ReadSeries(ctx, f.in, readerOptions())
	if err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	src, err := seg.SourceFromSeries(series)
	if err != nil {
		return withCode(ExitRefused, fmt.Errorf("segment: %w", err))
	}

	var lr labelResult
	if f.labels != "" {
		lr, err = labelsFromMasks(ctx, f.labels, series.Geometry)
	} else {
		lr, err = segmentWithModel(ctx, series, f.model)
	}
	if err != nil {
		return err
	}

	opts := seg.Options{
		ModelVersion:       lr.version,
		SeriesNumber:       f.seriesNumber,
		AllSlices:          f.allSlices,
		ContentDescription: lr.description,
	}
	res, err := writeSEG(ctx, f.out, src, lr, opts)
	if err != nil {
		if errors.Is(err, seg.ErrGeometryMismatch) || errors.Is(err, seg.ErrInvalidSource) {
			return withCode(ExitRefused, err)
		}
		return err
	}
	if res.GeneratedFrameOfReference {
		fmt.Fprintf(stderr, "node: segment: source series %s has no FrameOfReferenceUID; the SEG carries the derived %s\n",
			src.SeriesInstanceUID, res.FrameOfReferenceUID)
	}
	printSegmentSummary(stdout, f.out, src, res)
	return nil
}

// segmentWithModel is where the MHP-Net model plugs in: it must return
// the label volume on series.Geometry (1 liver, 2 tumor), the node's
// segments (seg.NodeSegments(version)) and the model version.
func segmentWithModel(ctx context.Context, series *dicom.Series, modelPath string) (labelResult, error) {
	if err := ctx.Err(); err != nil {
		return labelResult{}, fmt.Errorf("segment: %w", err)
	}
	_ = series // the model will run on series.LoadVolume(ctx)
	if modelPath != "" {
		return labelResult{}, fmt.Errorf("segment: --model %s: %w; loading model files comes with the model (use --labels MASKS_DIR meanwhile)", modelPath, errModelUnavailable)
	}
	return labelResult{}, fmt.Errorf("segment: %w; pass --labels MASKS_DIR (an IRCAD MASKS_DICOM folder) to write a SEG from existing labels", errModelUnavailable)
}

// labelsFromMasks reads an IRCAD MASKS_DICOM folder as labels and describes
// them as MANUAL segments: they were not produced by the node's model.
func labelsFromMasks(ctx context.Context, dir string, g volume.Geometry) (labelResult, error) {
	lv, err := dicom.ReadIRCADMasks(ctx, dir, g)
	if err != nil {
		return labelResult{}, fmt.Errorf("segment: labels: %w", err)
	}
	sum := sha256.Sum256(lv.Labels)
	segs, err := importedSegments()
	if err != nil {
		return labelResult{}, err
	}
	return labelResult{
		labels:      lv,
		segments:    segs,
		version:     "labels-" + hex.EncodeToString(sum[:8]),
		description: "Liver and liver tumor labels imported from " + filepath.Base(filepath.Clean(dir)),
	}, nil
}

// importedSegments are the node's two segments described as MANUAL
// (no algorithm identification), for labels read from masks.
func importedSegments() ([]seg.Segment, error) {
	base, err := seg.NodeSegments("imported")
	if err != nil {
		return nil, err
	}
	out := make([]seg.Segment, len(base))
	for i, s := range base {
		s.AlgorithmType, s.Algorithm = seg.AlgorithmManual, seg.Algorithm{}
		if out[i], err = seg.NewSegment(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeSEG encodes into a temporary file beside path and renames it, so a
// reader never sees a partial SEG.
func writeSEG(ctx context.Context, path string, src seg.Source, lr labelResult, opts seg.Options) (seg.Result, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".seg-*.dcm.tmp")
	if err != nil {
		return seg.Result{}, fmt.Errorf("segment: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	res, err := seg.Encode(ctx, tmp, src, lr.labels, lr.segments, opts)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("segment: %w", cerr)
	}
	if err != nil {
		return seg.Result{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return seg.Result{}, fmt.Errorf("segment: %w", err)
	}
	return res, nil
}

func printSegmentSummary(w io.Writer, path string, src seg.Source, res seg.Result) {
	g := src.Geometry
	ml := g.VoxelVolumeML()
	fmt.Fprintf(w, "SEG      %s (%d bytes)\n", path, res.Bytes)
	fmt.Fprintf(w, "series   %s\n", res.SeriesInstanceUID)
	fmt.Fprintf(w, "instance %s\n", res.SOPInstanceUID)
	fmt.Fprintf(w, "source   %s: %d slices of %dx%d, %.4g x %.4g x %.4g mm\n",
		src.SeriesInstanceUID, g.Size[2], g.Size[0], g.Size[1], g.Spacing[0], g.Spacing[1], g.Spacing[2])
	fmt.Fprintf(w, "frames   %d\n", res.Frames)
	for _, s := range res.Segments {
		if s.Frames == 0 {
			fmt.Fprintf(w, "segment  %d %-12s empty (described, no frames)\n", s.Number, s.Label)
			continue
		}
		fmt.Fprintf(w, "segment  %d %-12s %4d frames (slices %d-%d), %d voxels, %.1f mL\n",
			s.Number, s.Label, s.Frames, s.FirstSlice, s.LastSlice, s.Voxels, float64(s.Voxels)*ml)
	}
	if len(res.Segments) > 0 && res.Segments[0].Label == "Liver" {
		fmt.Fprintf(w, "liver    %.1f mL\n", float64(res.Segments[0].Voxels)*ml)
	}
}
