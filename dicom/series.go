// Package dicom turns DICOM Part 10 objects into CT series and volumes: it
// reads folders or streamed instances, groups them by SeriesInstanceUID,
// orders slices by position on the slice normal, checks the stack (spacing,
// gaps, tilt, duplicates, mixed geometry), converts pixels to Hounsfield
// units and reads the IRCAD mask series. It sits between dicomweb (which
// fetches instances) and volume/segmentation (which see only volumes), and
// refuses what it cannot process with typed errors (errors.go) that name the
// cause for a PACS administrator. Parsing is done by
// github.com/suyashkumar/dicom behind a structure check that bounds every
// allocation by the input size. This package does not log.
package dicom

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	godicom "github.com/suyashkumar/dicom"

	"github.com/mhpnet/node/volume"
)

// DefaultMaxInstanceBytes bounds one instance read from a reader or file
// (and a deflated data set once inflated): 1 GiB holds an Enhanced CT of
// more than 2,000 frames of 512×512×16 bits.
const DefaultMaxInstanceBytes = 1 << 30

// Options tune reading; the zero value is the default.
type Options struct {
	// Decoders selects the pixel decoder by TransferSyntaxUID; nil means
	// DefaultDecoders() (the native syntaxes).
	Decoders Decoders
	// MaxInstanceBytes bounds one instance; 0 means DefaultMaxInstanceBytes.
	MaxInstanceBytes int64
	// MaxElements bounds the elements of one instance; 0 means
	// DefaultMaxElements.
	MaxElements int
	// ExpectedFrames, when known (e.g. NumberOfSeriesRelatedInstances from
	// QIDO-RS), lets SeriesBuilder.AddReader reserve the series buffer once.
	ExpectedFrames int
}

func (o Options) maxInstanceBytes() int64 {
	if o.MaxInstanceBytes > 0 {
		return o.MaxInstanceBytes
	}
	return DefaultMaxInstanceBytes
}

func (o Options) maxElements() int {
	if o.MaxElements > 0 {
		return o.MaxElements
	}
	return DefaultMaxElements
}

// Series is one CT series ready to become a volume.
type Series struct {
	// StudyInstanceUID ... SeriesNumber are the attributes of the first
	// instance read (FrameOfReferenceUID may be empty, as in IRCAD).
	StudyInstanceUID, SeriesInstanceUID, FrameOfReferenceUID string
	Modality, SOPClassUID, SeriesDescription                 string
	SeriesNumber                                             int
	// TransferSyntaxUID is that of the first instance read.
	TransferSyntaxUID string
	// Instances are the slices sorted by position on the normal: index = z.
	Instances []Instance
	// Geometry is the voxel grid; zero for a refused series.
	Geometry volume.Geometry
	// SliceThickness (0018,0050) as stated (the spacing comes from positions).
	SliceThickness float64
	// Header holds the elements of one instance of the series without pixel
	// data: Patient and Study modules are copied from it into derived
	// objects (SEG). Never log it: it holds patient names and IDs.
	Header *godicom.Dataset

	opts  Options
	store *frameStore
	vol   *volume.Volume
}

// Scan is what a folder or a set of streamed instances holds.
type Scan struct {
	// Series are the usable CT series.
	Series []*Series
	// Refused are CT (or other image) series that cannot be processed.
	Refused []Refusal
	// Skipped are files or parts that are not CT slices to stack.
	Skipped []Skipped
}

// Refusal is a series that cannot be processed, with the typed reason.
type Refusal struct {
	// Series carries the UIDs and the instances read before the refusal
	// (Geometry is zero).
	Series *Series
	// Objects is the number of files or parts filed under the series.
	Objects int
	// Err satisfies errors.Is(Err, ErrRefused); errors.As gives the details.
	Err error
}

// Skipped is a file or part that was not read as a CT slice, and why.
type Skipped struct {
	// Path is the file, or the name given to AddReader.
	Path string `json:"path"`
	// Reason says why, for an administrator.
	Reason string `json:"reason"`
}

// ReadDir reads every file under dir (recursively) and groups the CT
// slices into series. Per-file problems are reported in the Scan, not as an
// error; the error is non-nil when dir cannot be walked or ctx is done.
func ReadDir(ctx context.Context, dir string, opts Options) (*Scan, error) {
	b := NewSeriesBuilder(opts)
	var paths []string
	root := dir
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// dir itself is a link (e.g. to a mounted export): WalkDir would
		// not enter it; with a trailing separator the system follows it.
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			root = dir + string(filepath.Separator)
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type().IsRegular():
			paths = append(paths, p)
		case d.Type()&fs.ModeSymlink != 0:
			// Follow links to files (not to folders: no loops).
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				paths = append(paths, p)
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("dicom: reading %s: %w", dir, err)
	}
	sort.Strings(paths) // deterministic reports; slice order comes from positions
	for _, p := range paths {
		if err := b.AddFile(ctx, p); err != nil {
			return nil, err
		}
	}
	return b.Scan(), nil
}

// ReadSeries reads dir and returns its one usable CT series. Several usable
// series give ErrSeveralSeries; none gives the refusal of the series found
// (or ErrNoPixelData when there is no CT image at all).
func ReadSeries(ctx context.Context, dir string, opts Options) (*Series, error) {
	sc, err := ReadDir(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	s, err := sc.Only()
	if err != nil {
		return nil, fmt.Errorf("dicom: %s: %w", dir, err)
	}
	return s, nil
}

// Only returns the one usable series of the scan, or the typed reason why
// there is not exactly one.
func (sc *Scan) Only() (*Series, error) {
	switch {
	case len(sc.Series) == 1:
		return sc.Series[0], nil
	case len(sc.Series) > 1:
		uids := make([]string, len(sc.Series))
		for i, s := range sc.Series {
			uids[i] = s.SeriesInstanceUID
		}
		return nil, ErrSeveralSeries{UIDs: uids}
	case len(sc.Refused) == 1:
		return nil, sc.withSkipped(sc.Refused[0].Err)
	case len(sc.Refused) > 1:
		errs := make([]error, len(sc.Refused))
		for i, r := range sc.Refused {
			errs[i] = r.Err
		}
		return nil, sc.withSkipped(errors.Join(errs...))
	}
	where := "the input (nothing read)"
	if len(sc.Skipped) > 0 {
		// The first skip reason usually explains the rest (all parts of one export).
		where = fmt.Sprintf("the input (%d file(s) skipped; first %s: %s)", len(sc.Skipped), sc.Skipped[0].Path, sc.Skipped[0].Reason)
	}
	return nil, ErrNoPixelData{Path: where}
}

// withSkipped adds the files that could not be read to a refusal: a
// truncated slice file is refused as a gap in the series, and the file is
// what to act on.
func (sc *Scan) withSkipped(err error) error {
	if len(sc.Skipped) == 0 {
		return err
	}
	return fmt.Errorf("%w (also %d file(s) skipped; first %s: %s)", err, len(sc.Skipped), sc.Skipped[0].Path, sc.Skipped[0].Reason)
}

// LoadVolume decodes the series into a volume in Hounsfield units, slice z
// from Instances[z]. Slices read from files are decoded straight into the
// volume. For a series built from readers the decoded pixels are reordered
// in place and become the volume: later calls return that same volume.
func (s *Series) LoadVolume(ctx context.Context) (*volume.Volume, error) {
	if s.vol != nil {
		return s.vol, nil
	}
	if err := s.Geometry.Validate(); err != nil {
		return nil, fmt.Errorf("dicom: series %s has no valid geometry (refused series?): %w", s.SeriesInstanceUID, err)
	}
	if len(s.Instances) != s.Geometry.Size[2] {
		return nil, fmt.Errorf("dicom: series %s: %d instances for %d slices", s.SeriesInstanceUID, len(s.Instances), s.Geometry.Size[2])
	}
	if v, ok := s.adoptStore(); ok {
		s.vol = v
		return v, nil
	}
	vol, err := volume.NewVolume(s.Geometry, 0)
	if err != nil {
		return nil, err
	}
	sliceLen := s.Geometry.Size[0] * s.Geometry.Size[1]
	// Instances of one file (frames of a multi-frame object) are decoded
	// from one read of that file.
	byPath := map[string][]int{}
	var paths []string
	for z, in := range s.Instances {
		dst := vol.HU[z*sliceLen : (z+1)*sliceLen]
		if in.slot >= 0 {
			if s.store == nil || in.slot >= s.store.n {
				return nil, fmt.Errorf("dicom: series %s: pixels of %s are no longer held", s.SeriesInstanceUID, in.SOPInstanceUID)
			}
			copy(dst, s.store.data[in.slot*sliceLen:(in.slot+1)*sliceLen])
			continue
		}
		if _, ok := byPath[in.Path]; !ok {
			paths = append(paths, in.Path)
		}
		byPath[in.Path] = append(byPath[in.Path], z)
	}
	var lut *huLUT
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.decodeFile(p, byPath[p], vol, &lut); err != nil {
			return nil, fmt.Errorf("dicom: series %s: %w", s.SeriesInstanceUID, err)
		}
	}
	return vol, nil
}

// decodeFile reads one file and decodes the frames that sit at slices zs.
func (s *Series) decodeFile(path string, zs []int, vol *volume.Volume, lut **huLUT) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	o, err := parseObject(data, path, true, s.opts)
	if err != nil {
		return err
	}
	if err := o.readImage(); err != nil {
		return err
	}
	sliceLen := s.Geometry.Size[0] * s.Geometry.Size[1]
	for _, z := range zs {
		in := s.Instances[z]
		idx := max(in.FrameNumber-1, 0)
		if o.sopInstance != in.SOPInstanceUID || idx >= len(o.frames) || o.pixels == nil {
			return fmt.Errorf("%s changed since it was scanned (SOPInstanceUID %s frame %d)", path, in.SOPInstanceUID, in.FrameNumber)
		}
		dec, err := s.opts.decoderFor(o.transferSyntax)
		if err != nil {
			return err
		}
		raw, err := dec.DecodeFrame(o.pixels, o.format, idx)
		if err != nil {
			return ErrMalformed{Path: path, Reason: fmt.Sprintf("decoding frame %d", idx+1), Err: err}
		}
		r := o.frames[idx].Rescale
		if !(*lut).matches(o.format, r) {
			*lut = newHULUT(o.format, r)
		}
		if err := (*lut).convert(raw, vol.HU[z*sliceLen:(z+1)*sliceLen]); err != nil {
			return ErrMalformed{Path: path, Reason: fmt.Sprintf("frame %d", idx+1), Err: err}
		}
	}
	return nil
}

// adoptStore turns the in-memory frames into the volume without a copy
// when every slice came from a reader: the slots are permuted in place into
// z order (one slice of scratch).
func (s *Series) adoptStore() (*volume.Volume, bool) {
	st := s.store
	n := len(s.Instances)
	if st == nil || st.n != n {
		return nil, false
	}
	perm := make([]int, n) // perm[z] = slot holding slice z
	used := make([]bool, n)
	for z, in := range s.Instances {
		if in.slot < 0 || in.slot >= n || used[in.slot] {
			return nil, false
		}
		perm[z], used[in.slot] = in.slot, true
	}
	L := st.sliceLen
	data := st.data[:n*L]
	tmp := make([]int16, L)
	done := make([]bool, n)
	for i := range n {
		if done[i] || perm[i] == i {
			done[i] = true
			continue
		}
		copy(tmp, data[i*L:(i+1)*L])
		j := i
		for {
			done[j] = true
			k := perm[j]
			if k == i {
				copy(data[j*L:(j+1)*L], tmp)
				break
			}
			copy(data[j*L:(j+1)*L], data[k*L:(k+1)*L])
			j = k
		}
	}
	for z := range s.Instances {
		s.Instances[z].slot = z
	}
	s.store = nil
	return &volume.Volume{Geometry: s.Geometry, HU: data}, true
}
