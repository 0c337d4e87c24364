package codec

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"

	"github.com/mhpnet/node/dicom"
)

const jpegName = "JPEG"

// JPEGDecoder decodes the JPEG transfer syntaxes of ITU T.81 used for CT:
// baseline and extended sequential DCT with Huffman coding at 8 bits
// (through image/jpeg) and 12 bits (a DCT decoder here), and lossless
// process 14 at 2..16 bits with any predictor 1..7 and point transform
// (Annex H). One component only. Progressive, hierarchical and arithmetic
// coding are refused with ErrUnsupportedCoding. The coding is taken from
// the codestream's SOF marker, not from the transfer syntax, so a
// mislabelled .57/.70 still decodes.
type JPEGDecoder struct{}

// DecodeFrame implements dicom.Decoder.
func (JPEGDecoder) DecodeFrame(px *dicom.PixelData, f dicom.PixelFormat, frame int) ([]byte, error) {
	if err := checkFormat(jpegName, f); err != nil {
		return nil, err
	}
	data, err := frameData(jpegName, px, frame, isJPEGStart)
	if err != nil {
		return nil, err
	}
	return decodeJPEG(data, f, frame)
}

// decodeJPEG decodes one frame's codestream.
func decodeJPEG(data []byte, f dicom.PixelFormat, frame int) ([]byte, error) {
	h, err := parseJPEG(data)
	if err != nil {
		return nil, withFrame(err, frame)
	}
	fr := h.frame
	switch {
	case fr.width != f.Columns:
		return nil, ErrHeaderMismatch{Codec: jpegName, Attribute: "Columns (0028,0011)", DICOM: f.Columns, Codestream: fr.width}
	case fr.height != f.Rows:
		return nil, ErrHeaderMismatch{Codec: jpegName, Attribute: "Rows (0028,0010)", DICOM: f.Rows, Codestream: fr.height}
	case fr.precision > f.BitsAllocated:
		return nil, ErrHeaderMismatch{Codec: jpegName, Attribute: "BitsAllocated (0028,0100) (JPEG sample precision)",
			DICOM: f.BitsAllocated, Codestream: fr.precision}
	}
	d := &jpegDecoding{h: h, f: f, frame: frame}
	r := &bitReader{data: data, pos: h.scanStart}
	switch fr.sof {
	case 0xC3:
		return d.lossless(r)
	case 0xC0, 0xC1:
		if fr.precision == 8 {
			return d.baseline8(data)
		}
		return d.dct(r)
	}
	return nil, ErrUnsupportedCoding{Codec: jpegName, Feature: fmt.Sprintf("SOF marker FF%02X", fr.sof)}
}

// jpegFrame is the frame header (SOF, T.81 B.2.2) of a one-component image.
type jpegFrame struct {
	sof           byte
	precision     int
	height, width int
	componentID   byte
	tq            int
}

// jpegScan is the scan header (SOS, B.2.3) of a one-component scan.
type jpegScan struct {
	td, ta         int
	ss, se, ah, al int
}

// jpegHeader is what precedes the entropy-coded data of the first scan.
type jpegHeader struct {
	frame     jpegFrame
	scan      jpegScan
	dc, ac    [4]*huffTable
	qt        [4]*[64]int32
	ri        int // restart interval in MCUs (DRI), 0 for none
	scanStart int // offset of the entropy-coded segment
}

// parseJPEG reads the markers from SOI to the first SOS (T.81 B.2). Errors
// are ErrCorruptData (frame 0) or ErrUnsupportedCoding.
func parseJPEG(b []byte) (*jpegHeader, error) {
	bad := func(format string, a ...any) error {
		return ErrCorruptData{Codec: jpegName, Reason: fmt.Sprintf(format, a...)}
	}
	unsup := func(format string, a ...any) error {
		return ErrUnsupportedCoding{Codec: jpegName, Feature: fmt.Sprintf(format, a...)}
	}
	if !isJPEGStart(b) {
		return nil, bad("no SOI marker (FFD8) at the start of the frame")
	}
	h := &jpegHeader{}
	haveFrame := false
	p := 2
	for {
		if p >= len(b) || b[p] != 0xFF {
			return nil, bad("marker expected at byte %d", p)
		}
		for p < len(b) && b[p] == 0xFF { // fill bytes (B.1.1.2)
			p++
		}
		if p >= len(b) {
			return nil, bad("truncated at byte %d before the scan", p)
		}
		m := b[p]
		p++
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) { // TEM, RSTn: no length
			continue
		}
		switch m {
		case 0x00, 0xD8:
			return nil, bad("unexpected marker FF%02X at byte %d", m, p-2)
		case 0xD9:
			return nil, bad("EOI before any scan")
		}
		if p+2 > len(b) {
			return nil, bad("truncated marker FF%02X at byte %d", m, p-2)
		}
		n := int(b[p])<<8 | int(b[p+1])
		if n < 2 || p+n > len(b) {
			return nil, bad("marker FF%02X at byte %d has length %d beyond the %d-byte frame", m, p-2, n, len(b))
		}
		seg := b[p+2 : p+n]
		p += n
		switch {
		case m == 0xC4:
			if err := h.parseDHT(seg); err != nil {
				return nil, err
			}
		case m == 0xDB:
			if err := h.parseDQT(seg); err != nil {
				return nil, err
			}
		case m == 0xDD:
			if len(seg) != 2 {
				return nil, bad("DRI of length %d", len(seg))
			}
			h.ri = int(seg[0])<<8 | int(seg[1])
		case m == 0xC0 || m == 0xC1 || m == 0xC3:
			if haveFrame {
				return nil, bad("second SOF marker")
			}
			if len(seg) < 6 {
				return nil, bad("SOF of length %d", len(seg))
			}
			fr := jpegFrame{sof: m, precision: int(seg[0]), height: int(seg[1])<<8 | int(seg[2]), width: int(seg[3])<<8 | int(seg[4])}
			nf := int(seg[5])
			if nf != 1 {
				return nil, unsup("%d components (grayscale, one component, only)", nf)
			}
			if len(seg) != 6+3*nf {
				return nil, bad("SOF of length %d for %d component(s)", len(seg), nf)
			}
			fr.componentID, fr.tq = seg[6], int(seg[8])
			switch {
			case fr.height == 0:
				return nil, unsup("image height defined by a DNL marker")
			case fr.width == 0:
				return nil, bad("image width 0")
			case m == 0xC3 && (fr.precision < 2 || fr.precision > 16):
				return nil, bad("lossless sample precision %d (2..16)", fr.precision)
			case m == 0xC0 && fr.precision != 8:
				return nil, bad("baseline sample precision %d (8)", fr.precision)
			case m == 0xC1 && fr.precision != 8 && fr.precision != 12:
				return nil, bad("extended sample precision %d (8 or 12)", fr.precision)
			case m != 0xC3 && fr.tq > 3:
				return nil, bad("quantization table %d", fr.tq)
			}
			h.frame, haveFrame = fr, true
		case m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE:
			return nil, unsup("progressive DCT (SOF marker FF%02X)", m)
		case m == 0xC5 || m == 0xC7 || m == 0xCD || m == 0xCF:
			return nil, unsup("hierarchical coding (SOF marker FF%02X)", m)
		case m == 0xC9 || m == 0xCB || m == 0xCC:
			return nil, unsup("arithmetic coding (marker FF%02X)", m)
		case m == 0xF7:
			return nil, bad("JPEG-LS frame (SOF55) in a JPEG transfer syntax")
		case m == 0xDA:
			if !haveFrame {
				return nil, bad("SOS before SOF")
			}
			if len(seg) < 1 || int(seg[0]) != 1 || len(seg) != 6 {
				return nil, unsup("a scan of several components")
			}
			if seg[1] != h.frame.componentID {
				return nil, bad("scan component %d is not the frame's component %d", seg[1], h.frame.componentID)
			}
			sc := jpegScan{td: int(seg[2] >> 4), ta: int(seg[2] & 15), ss: int(seg[3]), se: int(seg[4]), ah: int(seg[5] >> 4), al: int(seg[5] & 15)}
			if sc.td > 3 || sc.ta > 3 || h.dc[sc.td] == nil {
				return nil, bad("scan uses undefined Huffman table DC%d", sc.td)
			}
			if h.frame.sof != 0xC3 {
				if h.ac[sc.ta] == nil || h.qt[h.frame.tq] == nil {
					return nil, bad("scan uses undefined Huffman table AC%d or quantization table %d", sc.ta, h.frame.tq)
				}
				if sc.ss != 0 || sc.se != 63 || sc.ah != 0 || sc.al != 0 {
					return nil, bad("sequential scan with Ss %d, Se %d, Ah %d, Al %d", sc.ss, sc.se, sc.ah, sc.al)
				}
			} else {
				if sc.ss < 1 || sc.ss > 7 {
					return nil, unsup("lossless predictor %d (1..7 only)", sc.ss)
				}
				if sc.al >= h.frame.precision {
					return nil, bad("point transform %d for precision %d", sc.al, h.frame.precision)
				}
			}
			h.scan, h.scanStart = sc, p
			return h, nil
		}
	}
}

// parseDHT reads Huffman tables (B.2.4.2).
func (h *jpegHeader) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return ErrCorruptData{Codec: jpegName, Reason: "truncated DHT"}
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return ErrCorruptData{Codec: jpegName, Reason: fmt.Sprintf("DHT class %d destination %d", tc, th)}
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(seg[l])
			total += counts[l]
		}
		if total > 256 || len(seg) < 17+total {
			return ErrCorruptData{Codec: jpegName, Reason: fmt.Sprintf("DHT with %d codes in %d bytes", total, len(seg))}
		}
		t, err := newHuffTable(counts, seg[17:17+total])
		if err != nil {
			return err
		}
		if tc == 0 {
			h.dc[th] = t
		} else {
			h.ac[th] = t
		}
		seg = seg[17+total:]
	}
	return nil
}

// parseDQT reads quantization tables (B.2.4.1), in zigzag order.
func (h *jpegHeader) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		size := 64 * (int(pq) + 1)
		if pq > 1 || tq > 3 || len(seg) < 1+size {
			return ErrCorruptData{Codec: jpegName, Reason: fmt.Sprintf("DQT precision %d destination %d in %d bytes", pq, tq, len(seg))}
		}
		var q [64]int32
		for i := range q {
			if pq == 0 {
				q[i] = int32(seg[1+i])
			} else {
				q[i] = int32(seg[1+2*i])<<8 | int32(seg[2+2*i])
			}
		}
		h.qt[tq] = &q
		seg = seg[1+size:]
	}
	return nil
}

// huffLookBits is the width of the fast Huffman lookup.
const huffLookBits = 9

// huffTable is a canonical Huffman table (T.81 C.2, F.2.2.3).
type huffTable struct {
	look    [1 << huffLookBits]uint16 // (length<<8 | value) for codes up to 9 bits, 0 if longer
	maxcode [18]int32                 // largest code of each length, -1 if none
	valptr  [17]int32
	mincode [17]int32
	vals    []byte
}

func newHuffTable(counts [17]int, vals []byte) (*huffTable, error) {
	t := &huffTable{vals: append([]byte(nil), vals...)}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		t.valptr[l], t.mincode[l] = k, code
		t.maxcode[l] = -1
		if counts[l] > 0 {
			for range counts[l] {
				if code >= 1<<l { // more codes than the length can hold
					return nil, ErrCorruptData{Codec: jpegName, Reason: fmt.Sprintf("Huffman table over-subscribed at length %d", l)}
				}
				if l <= huffLookBits {
					lo := code << (huffLookBits - l)
					for i := range int32(1) << (huffLookBits - l) {
						t.look[lo+i] = uint16(l)<<8 | uint16(vals[k])
					}
				}
				code++
				k++
			}
			t.maxcode[l] = code - 1
		}
		code <<= 1
	}
	t.maxcode[17] = math.MaxInt32
	return t, nil
}

// maxPadBits bounds the zero bits a scan may read past its data (a
// truncated scan), so a hostile stream cannot decode a frame of nothing.
const maxPadBits = 64

// bitReader reads the entropy-coded segment (F.2.2.5): bytes MSB first,
// 0xFF00 stuffing removed, stopping at a marker and supplying zero bits
// after it.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64 // valid bits left-aligned
	n      uint   // number of valid bits in acc
	marker bool   // pos is at a marker (or the end)
	pad    int    // zero bits appended after the data
}

func (r *bitReader) fill() {
	for r.n <= 56 {
		var b byte
		switch {
		case r.marker || r.pos >= len(r.data):
			r.marker = true
			r.pad += 8
		case r.data[r.pos] == 0xFF:
			if r.pos+1 < len(r.data) && r.data[r.pos+1] == 0x00 {
				b = 0xFF
				r.pos += 2
			} else {
				r.marker = true
				r.pad += 8
			}
		default:
			b = r.data[r.pos]
			r.pos++
		}
		r.acc |= uint64(b) << (56 - r.n)
		r.n += 8
	}
}

// overrun reports whether more zero bits past the data were consumed than
// a valid stream needs.
func (r *bitReader) overrun() bool {
	return r.pad-min(r.pad, int(r.n)) > maxPadBits
}

// bits returns the next s (0..16) bits.
func (r *bitReader) bits(s int) int32 {
	if s == 0 {
		return 0
	}
	if r.n < uint(s) {
		r.fill()
	}
	v := int32(r.acc >> (64 - uint(s)))
	r.acc <<= uint(s)
	r.n -= uint(s)
	return v
}

// decode returns the next Huffman-coded value, or -1 for an invalid code.
func (r *bitReader) decode(t *huffTable) int {
	if r.n < 16 {
		r.fill()
	}
	if e := t.look[r.acc>>(64-huffLookBits)]; e != 0 {
		l := uint(e >> 8)
		r.acc <<= l
		r.n -= l
		return int(e & 0xFF)
	}
	for l := huffLookBits + 1; l <= 16; l++ {
		code := int32(r.acc >> (64 - uint(l)))
		if code <= t.maxcode[l] {
			r.acc <<= uint(l)
			r.n -= uint(l)
			return int(t.vals[t.valptr[l]+code-t.mincode[l]])
		}
	}
	return -1
}

// restart skips to the byte after the next RSTn marker (F.2.2.5, E.2.4)
// and reports whether one was found.
func (r *bitReader) restart() bool {
	r.acc, r.n, r.pad, r.marker = 0, 0, 0, false
	for p := r.pos; p+1 < len(r.data); p++ {
		if r.data[p] != 0xFF || r.data[p+1] == 0x00 || r.data[p+1] == 0xFF {
			continue
		}
		if m := r.data[p+1]; m >= 0xD0 && m <= 0xD7 {
			r.pos = p + 2
			return true
		}
		return false
	}
	return false
}

// extend turns s received bits into a signed difference (F.2.2.1).
func extend(v int32, s int) int32 {
	if s > 0 && v < 1<<(s-1) {
		return v - (1 << s) + 1
	}
	return v
}

// jpegDecoding is the state of one frame's decoding.
type jpegDecoding struct {
	h     *jpegHeader
	f     dicom.PixelFormat
	frame int
}

func (d *jpegDecoding) corrupt(format string, a ...any) error {
	return ErrCorruptData{Codec: jpegName, Frame: d.frame, Reason: fmt.Sprintf(format, a...)}
}

// lossless decodes a process 14 scan (T.81 Annex H) with predictor Ss and
// point transform Al.
func (d *jpegDecoding) lossless(r *bitReader) ([]byte, error) {
	fr, sc := d.h.frame, d.h.scan
	w, ht := fr.width, fr.height
	if d.h.ri > 0 && d.h.ri%w != 0 {
		return nil, ErrUnsupportedCoding{Codec: jpegName, Feature: fmt.Sprintf("restart interval %d not a whole number of %d-sample lines", d.h.ri, w)}
	}
	tbl := d.h.dc[sc.td]
	pt := uint(sc.al)
	initial := int32(1) << (fr.precision - sc.al - 1)
	buf := make([]uint16, w*ht)
	firstRow := 0 // first line of the current restart interval
	for y := range ht {
		if d.h.ri > 0 && y > 0 && (y*w)%d.h.ri == 0 {
			if !r.restart() {
				return nil, d.corrupt("restart marker missing before line %d", y+1)
			}
			firstRow = y
		}
		row := buf[y*w : (y+1)*w]
		var up []uint16
		if y > firstRow {
			up = buf[(y-1)*w : y*w]
		}
		for x := range w {
			var pred int32
			switch {
			case y == firstRow && x == 0:
				pred = initial
			case y == firstRow:
				pred = int32(row[x-1])
			case x == 0:
				pred = int32(up[0])
			default:
				ra, rb, rc := int32(row[x-1]), int32(up[x]), int32(up[x-1])
				switch sc.ss {
				case 1:
					pred = ra
				case 2:
					pred = rb
				case 3:
					pred = rc
				case 4:
					pred = ra + rb - rc
				case 5:
					pred = ra + (rb-rc)>>1
				case 6:
					pred = rb + (ra-rc)>>1
				case 7:
					pred = (ra + rb) >> 1
				}
			}
			t := r.decode(tbl)
			var diff int32
			switch {
			case t < 0 || t > 16:
				return nil, d.corrupt("invalid Huffman code at line %d, column %d", y+1, x+1)
			case t == 16:
				diff = 32768
			default:
				diff = extend(r.bits(t), t)
			}
			row[x] = uint16(pred + diff) // modulo 2^16 (H.2.1)
		}
		if r.overrun() {
			return nil, d.corrupt("entropy-coded data ends at line %d of %d", y+1, ht)
		}
	}
	out := make([]byte, d.f.FrameBytes())
	limit := uint32(1)<<d.f.BitsAllocated - 1
	for i, s := range buf {
		v := uint32(s) << pt
		if v > limit {
			return nil, d.corrupt("sample %d is %d, beyond %d bits allocated", i, v, d.f.BitsAllocated)
		}
		put(out, d.f.BitsAllocated, i, uint16(v))
	}
	return out, nil
}

// baseline8 decodes an 8-bit sequential DCT frame with image/jpeg, after
// parseJPEG has checked its size against the DICOM header.
func (d *jpegDecoding) baseline8(data []byte) ([]byte, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, d.corrupt("%v", err)
	}
	g, ok := img.(*image.Gray)
	if !ok || g.Rect.Dx() != d.f.Columns || g.Rect.Dy() != d.f.Rows {
		return nil, d.corrupt("image/jpeg returned %T of %v", img, img.Bounds())
	}
	out := make([]byte, d.f.FrameBytes())
	for y := range d.f.Rows {
		row := g.Pix[y*g.Stride : y*g.Stride+d.f.Columns]
		for x, v := range row {
			put(out, d.f.BitsAllocated, y*d.f.Columns+x, uint16(v))
		}
	}
	return out, nil
}

// zigzag maps the zigzag index of a coefficient to its natural (row-major)
// index (T.81 Figure A.6).
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// idctCos[x*8+u] is C(u)/2·cos((2x+1)uπ/16) (T.81 A.3.3).
var idctCos = func() (c [64]float64) {
	for x := range 8 {
		for u := range 8 {
			cu := 1.0
			if u == 0 {
				cu = math.Sqrt2 / 2
			}
			c[x*8+u] = cu / 2 * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16)
		}
	}
	return c
}()

// dct decodes a 12-bit sequential DCT scan with Huffman coding (T.81
// Annex F), one component, with a separable floating-point inverse DCT.
func (d *jpegDecoding) dct(r *bitReader) ([]byte, error) {
	fr, sc := d.h.frame, d.h.scan
	w, ht := fr.width, fr.height
	bw, bh := (w+7)/8, (ht+7)/8
	dcT, acT, q := d.h.dc[sc.td], d.h.ac[sc.ta], d.h.qt[fr.tq]
	maxv := float64(int(1)<<fr.precision - 1)
	shift := float64(int(1) << (fr.precision - 1))
	out := make([]byte, d.f.FrameBytes())
	var coef [64]float64
	var tmp [64]float64
	var pred int32
	mcu := 0
	for by := range bh {
		for bx := range bw {
			if d.h.ri > 0 && mcu > 0 && mcu%d.h.ri == 0 {
				if !r.restart() {
					return nil, d.corrupt("restart marker missing before block %d", mcu+1)
				}
				pred = 0
			}
			mcu++
			coef = [64]float64{}
			t := r.decode(dcT)
			if t < 0 || t > 15 {
				return nil, d.corrupt("invalid DC code in block %d", mcu)
			}
			pred += extend(r.bits(t), t)
			coef[0] = float64(pred * q[0])
			for k := 1; k < 64; k++ {
				rs := r.decode(acT)
				if rs < 0 {
					return nil, d.corrupt("invalid AC code in block %d", mcu)
				}
				run, s := rs>>4, rs&15
				if s == 0 {
					if run != 15 {
						break
					}
					k += 15
					continue
				}
				k += run
				if k > 63 {
					return nil, d.corrupt("AC run past coefficient 63 in block %d", mcu)
				}
				coef[zigzag[k]] = float64(extend(r.bits(s), s) * q[k])
			}
			// Rows: tmp[v][x] = Σu c(x,u) F[v][u]; columns: out[y][x] = Σv c(y,v) tmp[v][x].
			for v := range 8 {
				for x := range 8 {
					s := 0.0
					for u := range 8 {
						s += idctCos[x*8+u] * coef[v*8+u]
					}
					tmp[v*8+x] = s
				}
			}
			for y := range 8 {
				py := by*8 + y
				if py >= ht {
					break
				}
				for x := range 8 {
					px := bx*8 + x
					if px >= w {
						break
					}
					s := 0.0
					for v := range 8 {
						s += idctCos[y*8+v] * tmp[v*8+x]
					}
					s = math.Round(s + shift)
					s = max(0, min(maxv, s))
					put(out, d.f.BitsAllocated, py*w+px, uint16(s))
				}
			}
		}
		if r.overrun() {
			return nil, d.corrupt("entropy-coded data ends at block row %d of %d", by+1, bh)
		}
	}
	return out, nil
}
