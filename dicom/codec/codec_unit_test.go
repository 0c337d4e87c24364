package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
)

// TestFrameData checks how fragments are assigned to frames without a
// Basic Offset Table (the reader drops it).
func TestFrameData(t *testing.T) {
	start := func(s string) []byte { return append([]byte{0xFF, 0xD8, 0xFF}, s...) }
	tests := []struct {
		name    string
		frags   [][]byte
		frames  int
		frame   int
		want    []byte
		wantErr error
	}{
		{name: "single frame, three fragments joined", frags: [][]byte{start("a"), []byte("b"), []byte("c")}, frames: 1, want: append(start("a"), "bc"...)},
		{name: "one fragment per frame", frags: [][]byte{start("a"), start("b")}, frames: 2, frame: 1, want: start("b")},
		{name: "frames split over fragments, first", frags: [][]byte{start("a"), []byte("b"), start("c"), []byte("d"), []byte("e")}, frames: 2, frame: 0, want: append(start("a"), "b"...)},
		{name: "frames split over fragments, last", frags: [][]byte{start("a"), []byte("b"), start("c"), []byte("d"), []byte("e")}, frames: 2, frame: 1, want: append(start("c"), "de"...)},
		{name: "too few codestream starts", frags: [][]byte{start("a"), []byte("b"), []byte("c")}, frames: 2, wantErr: ErrCorrupt},
		{name: "first fragment not a start", frags: [][]byte{[]byte("x"), start("b"), start("c")}, frames: 2, wantErr: ErrCorrupt},
		{name: "fewer fragments than frames", frags: [][]byte{start("a")}, frames: 2, wantErr: ErrCorrupt},
		{name: "no fragments", frags: [][]byte{}, frames: 1, wantErr: ErrCorrupt},
		{name: "native data", frags: nil, frames: 1, wantErr: ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := frameData("test", &dicom.PixelData{Fragments: tc.frags, Frames: tc.frames}, tc.frame, isJPEGStart)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, dicom.ErrInvalid) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := frameData("test", &dicom.PixelData{Fragments: [][]byte{start("a")}, Frames: 1}, 1, isJPEGStart); err == nil {
		t.Error("frame 2 of 1 accepted")
	}
}

// TestRLESynthetic decodes a hand-made RLE frame (PS3.5 G.3.1: a literal
// run, a replicate run and the -128 no-op), 3x2, 16-bit, MSB segment first.
func TestRLESynthetic(t *testing.T) {
	msb := []byte{0x02, 0x01, 0x02, 0x03, 0x80, 0xFE, 0xF0} // 01 02 03, no-op, F0 F0 F0
	lsb := []byte{0xFB, 0x7F, 0x00}                         // 7F x6 (then even padding)
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, 2)
	binary.LittleEndian.PutUint32(hdr[4:], 64)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(64+len(msb)))
	frame := append(append(hdr, msb...), lsb...)
	f := dicom.PixelFormat{Rows: 2, Columns: 3, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16, HighBit: 15}
	got, err := RLEDecoder{}.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{frame}, Frames: 1}, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x7F, 0x01, 0x7F, 0x02, 0x7F, 0x03, 0x7F, 0xF0, 0x7F, 0xF0, 0x7F, 0xF0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded frame (-want +got):\n%s", diff)
	}

	// The same frame said to be 3x1: the segments decode to twice Rows×Columns.
	f.Rows = 1
	_, err = RLEDecoder{}.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{frame}, Frames: 1}, f, 0)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("3x1: err = %v, want ErrCorrupt", err)
	}
}

// codestreams are the frames of the cornerstone slice in each coding.
var codestreams = []struct {
	name, file string
	dec        dicom.Decoder
}{
	{"RLE", "RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm", RLEDecoder{}},
	{"JPEG lossless", "JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm", JPEGDecoder{}},
	{"JPEG baseline", "JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm", JPEGDecoder{}},
	{"JPEG extended 12-bit", "JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm", JPEGDecoder{}},
	{"JPEG-LS", "JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm", JPEGLSDecoder{}},
	{"JPEG 2000", "JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm", JPEG2000Decoder{}},
}

// split cuts b into fragments of n bytes.
func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// TestMultiFrameFragmented builds a 3-frame object from one real
// codestream cut into 8 KiB fragments (as dcmtk's +fs 8 does), without a
// Basic Offset Table, and checks that every frame decodes to the
// single-frame result.
func TestMultiFrameFragmented(t *testing.T) {
	for _, cs := range codestreams {
		t.Run(cs.name, func(t *testing.T) {
			o := readObject(t, testdata.Shared(t, csDir+cs.file))
			want, err := cs.dec.DecodeFrame(o.px, o.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			frame := o.px.Fragments[0]
			px := &dicom.PixelData{Frames: 3}
			for range 3 {
				px.Fragments = append(px.Fragments, split(frame, 8192)...)
			}
			for i := range 3 {
				got, err := cs.dec.DecodeFrame(px, o.format, i)
				if err != nil {
					t.Fatalf("frame %d of %d fragments: %v", i+1, len(px.Fragments), err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("frame %d differs from the single-frame decode", i+1)
				}
			}
		})
	}
}

// TestRefusals checks that damaged or lying codestreams give typed errors,
// and that a header claiming a huge image is refused before decoding.
func TestRefusals(t *testing.T) {
	for _, cs := range codestreams {
		o := readObject(t, testdata.Shared(t, csDir+cs.file))
		frame := o.px.Fragments[0]
		one := func(b []byte) *dicom.PixelData { return &dicom.PixelData{Fragments: [][]byte{b}, Frames: 1} }
		t.Run(cs.name+"/truncated", func(t *testing.T) {
			_, err := cs.dec.DecodeFrame(one(frame[:len(frame)/2]), o.format, 0)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, dicom.ErrRefused) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
		t.Run(cs.name+"/rows disagree", func(t *testing.T) {
			f := o.format
			f.Rows = 500
			_, err := cs.dec.DecodeFrame(one(frame), f, 0)
			var m ErrHeaderMismatch
			if cs.name == "RLE" { // RLE has no size in its header: the segments are too long
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("err = %v, want ErrCorrupt", err)
				}
				return
			}
			if !errors.As(err, &m) || m.Attribute != "Rows (0028,0010)" || m.DICOM != 500 || m.Codestream != 512 || !errors.Is(err, dicom.ErrInvalid) {
				t.Errorf("err = %v, want ErrHeaderMismatch on Rows 500 vs 512", err)
			}
		})
		t.Run(cs.name+"/garbage", func(t *testing.T) {
			_, err := cs.dec.DecodeFrame(one(bytes.Repeat([]byte{0x5A}, 1000)), o.format, 0)
			if !errors.Is(err, dicom.ErrRefused) {
				t.Errorf("err = %v, want a refusal", err)
			}
		})
	}

	t.Run("JPEG 2000 claiming 65535x65535", func(t *testing.T) {
		o := readObject(t, testdata.Shared(t, csDir+codestreams[5].file))
		b := bytes.Clone(o.px.Fragments[0])
		binary.BigEndian.PutUint32(b[8:], 65535)  // Xsiz
		binary.BigEndian.PutUint32(b[12:], 65535) // Ysiz
		_, err := JPEG2000Decoder{}.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{b}, Frames: 1}, o.format, 0)
		var m ErrHeaderMismatch
		if !errors.As(err, &m) || m.Codestream != 65535 {
			t.Errorf("err = %v, want ErrHeaderMismatch with 65535", err)
		}
	})
	t.Run("JPEG progressive .55", func(t *testing.T) {
		o := readObject(t, testdata.Shared(t, csDir+"JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm"))
		_, err := JPEGDecoder{}.DecodeFrame(o.px, o.format, 0)
		var u ErrUnsupportedCoding
		if !errors.As(err, &u) || !errors.Is(err, dicom.ErrUnsupported) {
			t.Errorf("err = %v, want ErrUnsupportedCoding", err)
		}
	})
	t.Run("format beyond limits", func(t *testing.T) {
		f := dicom.PixelFormat{Rows: 65535, Columns: 65535, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16}
		for _, cs := range codestreams {
			_, err := cs.dec.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{{0xFF, 0xD8, 0xFF}}, Frames: 1}, f, 0)
			if !errors.Is(err, dicom.ErrUnsupported) {
				t.Errorf("%s: err = %v, want ErrUnsupported", cs.name, err)
			}
		}
	})
}

// TestDecoders checks the map: every syntax of the package plus the native
// ones, and the retired JPEG syntaxes left out (the reader refuses them).
func TestDecoders(t *testing.T) {
	ds := Decoders()
	for _, ts := range []string{RLELossless, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1,
		JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, dicom.ExplicitVRLittleEndian,
		dicom.ImplicitVRLittleEndian, dicom.ExplicitVRBigEndian, dicom.DeflatedExplicitVRLittleEndian} {
		if ds[ts] == nil {
			t.Errorf("no decoder for %s", ts)
		}
	}
	for _, ts := range []string{"1.2.840.10008.1.2.4.53", "1.2.840.10008.1.2.4.55", "1.2.840.10008.1.2.4.201"} {
		if ds[ts] != nil {
			t.Errorf("decoder for %s", ts)
		}
	}
	if len(ds) != 13 {
		t.Errorf("%d decoders, want 13", len(ds))
	}
}

// TestJPEGLSWithoutEOI decodes a JPEG-LS frame whose EOI marker was lost:
// the marker is restored before CharLS sees the stream (a truncated stream
// without it costs CharLS 2.4.1 about 40 s).
func TestJPEGLSWithoutEOI(t *testing.T) {
	o := readObject(t, testdata.Shared(t, csDir+"JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm"))
	want, err := JPEGLSDecoder{}.DecodeFrame(o.px, o.format, 0)
	if err != nil {
		t.Fatal(err)
	}
	fr := o.px.Fragments[0]
	if !bytes.HasSuffix(fr, []byte{0xFF, 0xD9}) {
		t.Fatalf("frame ends % x, want EOI", fr[len(fr)-2:])
	}
	got, err := JPEGLSDecoder{}.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{fr[:len(fr)-2]}, Frames: 1}, o.format, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("decode without EOI differs")
	}
}

// TestJP2Wrapped decodes the cornerstone J2K codestream wrapped in a JP2
// file (signature, file type and contiguous codestream boxes, the last with
// a 16-byte header too) to the same samples as the raw codestream.
func TestJP2Wrapped(t *testing.T) {
	o := readObject(t, testdata.Shared(t, csDir+"JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm"))
	want, err := JPEG2000Decoder{}.DecodeFrame(o.px, o.format, 0)
	if err != nil {
		t.Fatal(err)
	}
	cs := o.px.Fragments[0]
	box := func(typ string, payload []byte, xl bool) []byte {
		var b []byte
		if xl {
			b = binary.BigEndian.AppendUint32(b, 1)
			b = append(b, typ...)
			b = binary.BigEndian.AppendUint64(b, uint64(16+len(payload)))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(8+len(payload)))
			b = append(b, typ...)
		}
		return append(b, payload...)
	}
	ftyp := box("ftyp", []byte("jp2 \x00\x00\x00\x00jp2 "), false)
	for _, xl := range []bool{false, true} {
		jp2 := append(append([]byte(jp2Signature), ftyp...), box("jp2c", cs, xl)...)
		got, err := JPEG2000Decoder{}.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{jp2}, Frames: 1}, o.format, 0)
		if err != nil {
			t.Fatalf("XLBox %v: %v", xl, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("XLBox %v: JP2 decode differs from the codestream's", xl)
		}
	}
	noCS := append([]byte(jp2Signature), ftyp...)
	if _, err := (JPEG2000Decoder{}).DecodeFrame(&dicom.PixelData{Fragments: [][]byte{noCS}, Frames: 1}, o.format, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("JP2 without jp2c: err = %v, want ErrCorrupt", err)
	}
}
