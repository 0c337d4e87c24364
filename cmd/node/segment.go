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
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/seg"
	"github.com/mhpnet/node/pipeline/stages"
	"github.com/mhpnet/node/segmentation"
	"github.com/mhpnet/node/segmentation/measure"
	"github.com/mhpnet/node/volume"
)

// segmentFlags are the options of node segment.
type segmentFlags struct {
	in, out, labels, model string
	overlay                string
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

The embedded MHP-Net model segments the series (--model FILE uses another).
A result failing a plausibility gate (liver volume, position, tumor burden) is
written with "CHECK" in its series and content descriptions and a FLAG line.
--labels instead takes the labels from an IRCAD MASKS_DICOM folder (liver and
livertumor* mask series on the same grid); the SEG then describes them as
MANUAL segments.

Prints a summary: segments, frames, voxel counts, the liver volume in mL and,
for the model, each tumor's volume, longest axial diameter and centroid.
Patient names and IDs are never printed.

Exit codes: 0 written; 1 failure (e.g. no liver found); 2 bad flags; 3 the
series or the labels were refused (the message says why).`,
		Example: `  node segment --in .testdata/ct/crlm-ct-1004 --out seg.dcm
  node segment --in .testdata/ircadb/3Dircadb1.1/PATIENT_DICOM \
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
	fl.StringVar(&f.overlay, "overlay", "", "folder for overlay PNGs (CT | result, zNNN.png by slice, replacing same-named files) of the slice through each tumor and of the largest liver slice")
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
	// model is the MHP-Net result (measurements, flags, timings); nil for
	// imported labels.
	model *segmentation.Result
	// ct is the CT volume the model read (nil for imported labels).
	ct *volume.Volume
}

func runSegment(ctx context.Context, stdout, stderr io.Writer, f segmentFlags) error {
	if err := checkOutPath(f.out); err != nil {
		return err
	}
	if f.overlay != "" {
		if err := checkOverlayDir(f.overlay, f.out); err != nil {
			return err
		}
	}
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
	if lr.model != nil {
		opts = opts.WithFlags(lr.model.Flags)
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
	if lr.model != nil {
		printMeasurements(stdout, lr.version, lr.model)
	}
	if f.overlay != "" {
		vol := lr.ct
		if vol == nil {
			if vol, err = series.LoadVolume(ctx); err != nil {
				return fmt.Errorf("segment: overlay: %w", err)
			}
		}
		names, err := writeResultOverlays(f.overlay, vol, lr.labels)
		if err != nil {
			return fmt.Errorf("segment: overlay: %w", err)
		}
		fmt.Fprintf(stdout, "overlays %s in %s (CT | result; liver green, tumor red)\n", strings.Join(names, " "), f.overlay)
	}
	return nil
}

// checkOverlayDir refuses, before any work, an --overlay folder that is
// --out itself or cannot be created or written (a file is made and removed
// in it).
func checkOverlayDir(dir, out string) error {
	if a, b := filepath.Clean(dir), filepath.Clean(out); a == b {
		return usageErrorf("segment: --overlay and --out both name %s: give the pictures their own folder", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErrorf("segment: --overlay %s: %v", dir, err)
	}
	fh, err := os.CreateTemp(dir, ".overlay-check-*")
	if err != nil {
		return usageErrorf("segment: --overlay %s is not writable: %v", dir, err)
	}
	name := fh.Name()
	fh.Close()
	return os.Remove(name)
}

// writeResultOverlays writes CT | result PNGs of the slice through each
// tumor's centroid (largest first, at most six) and of the slice with the
// largest liver area, and returns their file names.
func writeResultOverlays(dir string, ct *volume.Volume, labels *volume.LabelVolume) ([]string, error) {
	var zs []int
	seen := map[int]bool{}
	add := func(z int) {
		if z >= 0 && z < ct.Size[2] && !seen[z] {
			seen[z] = true
			zs = append(zs, z)
		}
	}
	plane := ct.Size[0] * ct.Size[1]
	best, bestN := -1, 0
	for z := 0; z < ct.Size[2]; z++ {
		n := 0
		for _, l := range labels.Labels[z*plane : (z+1)*plane] {
			if l != 0 {
				n++
			}
		}
		if n > bestN {
			best, bestN = z, n
		}
	}
	if ts, err := measure.Tumors(labels, segmentation.LabelTumor, volume.Conn6); err == nil {
		sort.SliceStable(ts, func(a, b int) bool { return ts[a].Voxels > ts[b].Voxels })
		for _, t := range ts[:min(len(ts), 6)] {
			add(int(t.CentroidVoxel[2] + 0.5))
		}
	}
	add(best)
	sort.Ints(zs)
	var names []string
	for _, z := range zs {
		name := fmt.Sprintf("z%03d.png", z)
		fh, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return names, err
		}
		err = segmentation.WriteOverlayPNG(fh, ct, nil, labels, z)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return names, err
		}
		names = append(names, name)
	}
	return names, nil
}

// printMeasurements writes what MHP-Net found: liver volume, each tumor's
// volume, longest axial diameter and centroid, flags and stage timings.
func printMeasurements(w io.Writer, version string, r *segmentation.Result) {
	fmt.Fprintf(w, "model    %s\n", version)
	fmt.Fprintf(w, "liver    %.1f mL (tumors included), %d tumor(s), %.1f mL of tumor\n", r.Liver.VolumeML, len(r.Tumors), r.Liver.TumorML)
	for i, t := range r.Tumors {
		fmt.Fprintf(w, "tumor    %d: %.2f mL, longest axial diameter %.1f mm, centroid LPS (%.1f, %.1f, %.1f) mm, slices %d-%d\n",
			i+1, t.VolumeML, t.LongestAxialDiameterMM, t.CentroidLPS[0], t.CentroidLPS[1], t.CentroidLPS[2], t.FirstSlice, t.LastSlice)
	}
	for _, fl := range r.Flags {
		fmt.Fprintf(w, "FLAG     %s: check this result before relying on it\n", fl)
	}
	fmt.Fprintf(w, "time     liver %.2f s, tumor %.2f s, measure %.2f s, total %.2f s\n",
		r.Timings.Liver.Seconds(), r.Timings.Tumor.Seconds(), r.Timings.Measure.Seconds(), r.Timings.Total.Seconds())
}

// segmentWithModel runs MHP-Net (the embedded model, or modelPath) on the
// series and returns the labels on series.Geometry (1 liver, 2 tumor), the
// node's segments and the model version that enters the SEG UIDs (the same
// content-addressed version `node serve` uses, so both write the same SEG).
func segmentWithModel(ctx context.Context, series *dicom.Series, modelPath string) (labelResult, error) {
	var m *segmentation.Model
	var err error
	if modelPath != "" {
		m, err = segmentation.LoadModel(modelPath)
	} else {
		m, err = segmentation.DefaultModel()
	}
	if err != nil {
		return labelResult{}, fmt.Errorf("segment: model: %w", err)
	}
	version, err := stages.ModelVersion(m)
	if err != nil {
		return labelResult{}, fmt.Errorf("segment: %w", err)
	}
	vol, err := series.LoadVolume(ctx)
	if err != nil {
		return labelResult{}, fmt.Errorf("segment: %w", err)
	}
	r, err := m.Segment(ctx, vol, segmentation.Options{})
	if err != nil {
		return labelResult{}, fmt.Errorf("segment: MHP-Net: %w", err)
	}
	if slices.Contains(r.Flags, segmentation.FlagNoLiver) {
		return labelResult{}, fmt.Errorf("segment: MHP-Net found no liver in series %s: is it an abdominal CT covering the liver?", series.SeriesInstanceUID)
	}
	segs, err := seg.NodeSegments(version)
	if err != nil {
		return labelResult{}, err
	}
	return labelResult{labels: r.Labels, segments: segs, version: version, model: r, ct: vol}, nil
}

// checkOutPath refuses, before any work, an --out that cannot be written:
// an existing folder, or a path whose parent is not a folder.
func checkOutPath(out string) error {
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return usageErrorf("segment: --out %s is a folder; give the SEG file's name, e.g. %s", out, filepath.Join(out, "seg.dcm"))
	}
	dir := filepath.Dir(out)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return usageErrorf("segment: --out %s: %s is not an existing folder", out, dir)
	}
	return nil
}

// labelsFromMasks reads an IRCAD MASKS_DICOM folder as labels and describes
// them as MANUAL segments: they were not produced by the node's model.
func labelsFromMasks(ctx context.Context, dir string, g volume.Geometry) (labelResult, error) {
	if st, err := os.Stat(filepath.Join(dir, "liver")); err != nil || !st.IsDir() {
		return labelResult{}, withCode(ExitRefused, fmt.Errorf("segment: --labels %s is not an IRCAD MASKS_DICOM folder: it has no liver/ mask series", dir))
	}
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
