package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The structure check walks a Part 10 object the way
// github.com/suyashkumar/dicom v1.1.0 reads it (read.go: readElement,
// readSequence, readSequenceItem, readRawItem, readPixelData) but allocates
// nothing: it only verifies that every declared value length fits in the
// bytes that remain. The library allocates `make([]byte, vl)` from the
// declared length before reading, so a 20-byte file declaring a 4 GiB
// element would otherwise allocate 4 GiB. Only objects that pass are handed
// to the library.

// maxNesting bounds sequence nesting; real objects nest a few levels.
const maxNesting = 32

// maxDeflateRatio bounds how much a deflated data set may inflate
// (inflated ≤ max(1 MiB, 128 × compressed)): CT compresses 2-4:1 and a
// mostly empty mask some 100:1, while a deflate bomb reaches 1000:1.
const maxDeflateRatio = 128

// DefaultMaxElements bounds the elements (at every nesting level) of one
// object. A CT slice has a few hundred; an Enhanced CT some 20-60 per frame.
// Each element costs the parser microseconds and hundreds of bytes, so the
// bound keeps a small hostile object from costing seconds and megabytes.
const DefaultMaxElements = 1 << 18

// limits bound the structure check.
type limits struct {
	maxInflated int64
	maxElements int
}

var errNotPart10 = errors.New("not a DICOM Part 10 file: no \"DICM\" prefix at byte 128")

// structure is what the check learns on the way.
type structure struct {
	// TransferSyntaxUID is (0002,0010), trimmed.
	TransferSyntaxUID string
	// DataSetBytes is the size of the (inflated) data set.
	DataSetBytes int64
	// PixelDataBytes is the value length of a native top-level Pixel Data,
	// PixelDataItems the number of items (offset table included) of an
	// encapsulated one; both -1 without Pixel Data.
	PixelDataBytes, PixelDataItems int64
}

// checkStructure verifies the element structure of the Part 10 object in b.
// Deflated data sets are inflated (within lim.maxInflated and
// maxDeflateRatio) and checked too.
func checkStructure(b []byte, lim limits) (structure, error) {
	var st structure
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		return st, errNotPart10
	}
	w := &walker{b: b, pos: 132, bo: binary.LittleEndian, maxElements: lim.maxElements}
	ts, err := w.meta()
	if err != nil {
		return st, fmt.Errorf("file meta information: %w", err)
	}
	st.TransferSyntaxUID = ts
	if ts == "" {
		return st, errors.New("file meta information has no TransferSyntaxUID (0002,0010)")
	}
	if !isKnownTransferSyntax(ts) {
		return st, ErrUnsupportedTransferSyntax{UID: ts, Name: TransferSyntaxName(ts)}
	}
	ds := w.b[w.pos:]
	switch ts {
	case ImplicitVRLittleEndian:
		w = &walker{b: ds, bo: binary.LittleEndian, implicit: true}
	case ExplicitVRBigEndian:
		w = &walker{b: ds, bo: binary.BigEndian}
	case DeflatedExplicitVRLittleEndian:
		max := min(lim.maxInflated, max(1<<20, maxDeflateRatio*int64(len(ds))))
		inflated, err := inflate(ds, max)
		if err != nil {
			return st, err
		}
		w = &walker{b: inflated, bo: binary.LittleEndian}
	default: // explicit little endian, including every encapsulated syntax
		w = &walker{b: ds, bo: binary.LittleEndian}
	}
	w.maxElements = lim.maxElements
	st.DataSetBytes = int64(len(w.b))
	w.pixelBytes, w.pixelItems = -1, -1
	if err := w.elements(len(w.b), 0, true); err != nil {
		return st, err
	}
	st.PixelDataBytes, st.PixelDataItems = w.pixelBytes, w.pixelItems
	return st, nil
}

// inflate decompresses a deflated data set (raw DEFLATE, RFC 1951, PS3.5
// §10.2), refusing output larger than max bytes.
func inflate(b []byte, max int64) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(r, max+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("inflating the deflated data set: %w", err)
	}
	if n > max {
		return nil, fmt.Errorf("the deflated data set inflates beyond %d bytes", max)
	}
	return out.Bytes(), nil
}

type walker struct {
	b        []byte
	pos      int
	bo       binary.ByteOrder
	implicit bool
	// pixelBytes and pixelItems describe the top-level Pixel Data; items
	// counts raw items walked so far.
	pixelBytes, pixelItems, items int64
	// nElements counts element headers read, up to maxElements (0: no bound).
	nElements, maxElements int
}

type header struct {
	tag       tag.Tag
	vr        string
	vl        uint32
	undefined bool
}

// meta walks the file meta group (always explicit VR little endian) and
// returns the transfer syntax.
func (w *walker) meta() (string, error) {
	var ts string
	first := true
	end := len(w.b)
	for w.pos < end {
		if !first && end == len(w.b) {
			// Without a group length the library reads while the group is 0002.
			if w.pos+2 > len(w.b) || binary.LittleEndian.Uint16(w.b[w.pos:]) != 0x0002 {
				break
			}
		}
		start := w.pos
		h, err := w.header(end)
		if err != nil {
			return "", err
		}
		if first {
			first = false
			if h.tag == tag.FileMetaInformationGroupLength {
				if h.vr != "UL" || h.vl != 4 || w.pos+4 > end {
					return "", fmt.Errorf("group length (0002,0000) has VR %q and length %d, want UL of 4 bytes", h.vr, h.vl)
				}
				metaLen := int(binary.LittleEndian.Uint32(w.b[w.pos:]))
				w.pos += 4
				if metaLen < 0 || metaLen > len(w.b)-w.pos {
					return "", fmt.Errorf("group length %d exceeds the %d bytes that follow", metaLen, len(w.b)-w.pos)
				}
				end = w.pos + metaLen
				continue
			}
		}
		if h.tag == tag.TransferSyntaxUID && !h.undefined && int(h.vl) <= end-w.pos {
			ts = strings.TrimRight(string(w.b[w.pos:w.pos+int(h.vl)]), "\x00 ")
		}
		if err := w.value(h, end, 0, start); err != nil {
			return "", err
		}
	}
	return ts, nil
}

// header reads a tag, VR and value length as the library does.
func (w *walker) header(end int) (header, error) {
	var h header
	if end-w.pos < 4 {
		return h, fmt.Errorf("truncated element tag at byte %d", w.pos)
	}
	w.nElements++
	if w.maxElements > 0 && w.nElements > w.maxElements {
		return h, fmt.Errorf("more than %d elements (at byte %d)", w.maxElements, w.pos)
	}
	h.tag = tag.Tag{Group: w.bo.Uint16(w.b[w.pos:]), Element: w.bo.Uint16(w.b[w.pos+2:])}
	w.pos += 4
	implicit := w.implicit || h.tag == tag.Item
	if implicit {
		h.vr = tag.UnknownVR
		if info, err := tag.Find(h.tag); err == nil {
			h.vr = info.VRs[0]
			if h.tag == tag.PixelData || h.tag == tag.OverlayData {
				h.vr = "OW"
			}
		}
		if end-w.pos < 4 {
			return h, fmt.Errorf("truncated length of %v at byte %d", h.tag, w.pos)
		}
		h.vl = w.bo.Uint32(w.b[w.pos:])
		w.pos += 4
	} else {
		if end-w.pos < 4 {
			return h, fmt.Errorf("truncated VR of %v at byte %d", h.tag, w.pos)
		}
		h.vr = string(w.b[w.pos : w.pos+2])
		w.pos += 2
		switch h.vr {
		case "NA", "OB", "OD", "OF", "OL", "OW", "SQ", "UN", "UC", "UR", "UT":
			if end-w.pos < 6 {
				return h, fmt.Errorf("truncated length of %v at byte %d", h.tag, w.pos)
			}
			h.vl = w.bo.Uint32(w.b[w.pos+2:])
			w.pos += 6
		default:
			h.vl = uint32(w.bo.Uint16(w.b[w.pos:]))
			w.pos += 2
			if h.vl == 0xffff {
				h.vl = tag.VLUndefinedLength
			}
		}
	}
	h.undefined = h.vl == tag.VLUndefinedLength
	return h, nil
}

// elements walks elements until end; top tolerates a short tail as the
// library's top-level loop stops at EOF.
func (w *walker) elements(end, depth int, top bool) error {
	for w.pos < end {
		if top && end-w.pos < 4 {
			return nil
		}
		start := w.pos
		h, err := w.header(end)
		if err != nil {
			return err
		}
		if err := w.value(h, end, depth, start); err != nil {
			return err
		}
	}
	return nil
}

// fits checks a defined length against the bytes left before end.
func (w *walker) fits(h header, end, start int) error {
	if int64(h.vl) > int64(end-w.pos) {
		return fmt.Errorf("element %v at byte %d declares %d bytes but only %d remain", h.tag, start, h.vl, end-w.pos)
	}
	return nil
}

// value walks the value of one element.
func (w *walker) value(h header, end, depth, start int) error {
	if depth > maxNesting {
		return fmt.Errorf("sequences nested deeper than %d at byte %d", maxNesting, start)
	}
	switch tag.GetVRKind(h.tag, h.vr) {
	case tag.VRSequence:
		return w.sequence(h, end, depth, start)
	case tag.VRItem:
		return w.item(h, end, depth, start)
	case tag.VRPixelData:
		if h.undefined {
			before := w.items
			err := w.rawItems(end, start, true)
			if depth == 0 && h.tag == tag.PixelData {
				w.pixelItems = w.items - before
			}
			return err
		}
		if depth == 0 && h.tag == tag.PixelData {
			w.pixelBytes = int64(h.vl)
		}
	case tag.VRUnknown:
		if h.undefined {
			return w.sequence(h, end, depth, start)
		}
	case tag.VRBytes:
		if h.undefined {
			return w.rawItems(end, start, false)
		}
	default:
		if h.undefined {
			return fmt.Errorf("element %v (VR %q) at byte %d has an undefined length", h.tag, h.vr, start)
		}
	}
	if err := w.fits(h, end, start); err != nil {
		return err
	}
	w.pos += int(h.vl)
	return nil
}

// sequence walks an SQ (or UN of undefined length) value.
func (w *walker) sequence(h header, end, depth, start int) error {
	if !h.undefined {
		if err := w.fits(h, end, start); err != nil {
			return err
		}
		limit := w.pos + int(h.vl)
		for w.pos < limit {
			s := w.pos
			ih, err := w.header(limit)
			if err != nil {
				return err
			}
			if ih.tag != tag.Item {
				return fmt.Errorf("sequence %v at byte %d holds %v, not an item, at byte %d", h.tag, start, ih.tag, s)
			}
			if err := w.value(ih, limit, depth+1, s); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		s := w.pos
		ih, err := w.header(end)
		if err != nil {
			return fmt.Errorf("sequence %v at byte %d: %w", h.tag, start, err)
		}
		if ih.tag == tag.SequenceDelimitationItem {
			return w.value(ih, end, depth+1, s)
		}
		if ih.tag != tag.Item {
			return fmt.Errorf("sequence %v at byte %d holds %v, not an item, at byte %d", h.tag, start, ih.tag, s)
		}
		if err := w.value(ih, end, depth+1, s); err != nil {
			return err
		}
	}
}

// item walks the elements of one sequence item.
func (w *walker) item(h header, end, depth, start int) error {
	if !h.undefined {
		if err := w.fits(h, end, start); err != nil {
			return err
		}
		return w.elements(w.pos+int(h.vl), depth+1, false)
	}
	for {
		s := w.pos
		eh, err := w.header(end)
		if err != nil {
			return fmt.Errorf("item at byte %d: %w", start, err)
		}
		if err := w.value(eh, end, depth+1, s); err != nil {
			return err
		}
		if eh.tag == tag.ItemDelimitationItem {
			return nil
		}
	}
}

// rawItems walks encapsulated pixel data or an undefined-length OB/OW value:
// items read as raw bytes until a sequence delimiter (readRawItem).
func (w *walker) rawItems(end, start int, pixelData bool) error {
	for w.pos < end {
		s := w.pos
		if end-w.pos < 8 {
			if pixelData {
				return nil // the library stops at a read error here
			}
			return fmt.Errorf("truncated item at byte %d", s)
		}
		t := tag.Tag{Group: w.bo.Uint16(w.b[w.pos:]), Element: w.bo.Uint16(w.b[w.pos+2:])}
		vl := w.bo.Uint32(w.b[w.pos+4:])
		w.pos += 8
		switch {
		case t == tag.SequenceDelimitationItem:
			return nil
		case t != tag.Item || vl == tag.VLUndefinedLength:
			continue // the library logs and reads on
		}
		w.items++
		if int64(vl) > int64(end-w.pos) {
			return fmt.Errorf("item at byte %d (in the value starting at byte %d) declares %d bytes but only %d remain",
				s, start, vl, end-w.pos)
		}
		w.pos += int(vl)
	}
	if pixelData {
		return nil
	}
	return fmt.Errorf("value at byte %d has no sequence delimiter", start)
}
