//go:build cgo

package codec

/*
#cgo pkg-config: libopenjp2
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openjpeg.h>

// mhp_mem is a memory stream for OpenJPEG's user callbacks.
typedef struct {
	const unsigned char* data;
	size_t len, pos;
} mhp_mem;

static OPJ_SIZE_T mhp_read(void* buf, OPJ_SIZE_T n, void* user) {
	mhp_mem* m = (mhp_mem*)user;
	if (m->pos >= m->len) return (OPJ_SIZE_T)-1;
	size_t k = m->len - m->pos;
	if (k > n) k = n;
	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T mhp_skip(OPJ_OFF_T n, void* user) {
	mhp_mem* m = (mhp_mem*)user;
	if (n < 0 || (size_t)n > m->len - m->pos) return -1;
	m->pos += (size_t)n;
	return n;
}

static OPJ_BOOL mhp_seek(OPJ_OFF_T n, void* user) {
	mhp_mem* m = (mhp_mem*)user;
	if (n < 0 || (size_t)n > m->len) return OPJ_FALSE;
	m->pos = (size_t)n;
	return OPJ_TRUE;
}

// mhp_err keeps the first error message OpenJPEG reports.
static void mhp_err(const char* msg, void* user) {
	char* e = (char*)user;
	if (e[0] == 0) {
		strncpy(e, msg, 255);
		e[255] = 0;
	}
}

static void mhp_quiet(const char* msg, void* user) { (void)msg; (void)user; }

// mhp_j2k_decode decodes a J2K codestream of one component of exactly
// w x h samples into dst (bytes_per_sample 1 or 2, little endian, the two's
// complement bit pattern of each sample). It returns 0 on success, 1 when
// OpenJPEG fails (message in err, 256 bytes) and 2 when the decoded image
// is not the one expected. src and dst are used only during the call.
static int mhp_j2k_decode(const void* src, size_t len, uint32_t w, uint32_t h, int bytes_per_sample,
                          void* dst, char* err) {
	mhp_mem m = {(const unsigned char*)src, len, 0};
	opj_stream_t* s = opj_stream_create(1 << 16, OPJ_TRUE);
	opj_codec_t* c = opj_create_decompress(OPJ_CODEC_J2K);
	opj_image_t* img = NULL;
	int rc = 0;
	if (s == NULL || c == NULL) {
		strcpy(err, "out of memory");
		rc = 1;
		goto done;
	}
	opj_stream_set_read_function(s, mhp_read);
	opj_stream_set_skip_function(s, mhp_skip);
	opj_stream_set_seek_function(s, mhp_seek);
	opj_stream_set_user_data(s, &m, NULL);
	opj_stream_set_user_data_length(s, len);
	opj_set_error_handler(c, mhp_err, err);
	opj_set_warning_handler(c, mhp_quiet, NULL);
	opj_set_info_handler(c, mhp_quiet, NULL);
	opj_dparameters_t p;
	opj_set_default_decoder_parameters(&p);
	if (!opj_setup_decoder(c, &p) || !opj_decoder_set_strict_mode(c, OPJ_TRUE) ||
	    !opj_read_header(s, c, &img) || img == NULL) {
		rc = 1;
		goto done;
	}
	if (img->numcomps != 1 || img->x1 - img->x0 != w || img->y1 - img->y0 != h ||
	    img->comps[0].dx != 1 || img->comps[0].dy != 1) {
		rc = 2;
		goto done;
	}
	if (!opj_decode(c, s, img) || !opj_end_decompress(c, s)) {
		rc = 1;
		goto done;
	}
	opj_image_comp_t* comp = &img->comps[0];
	if (comp->data == NULL || comp->w != w || comp->h != h || comp->prec < 1 || comp->prec > 8 * (OPJ_UINT32)bytes_per_sample) {
		rc = 2;
		goto done;
	}
	size_t n = (size_t)w * h;
	unsigned char* out = (unsigned char*)dst;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)comp->data[i];
		if (bytes_per_sample == 1) {
			out[i] = (unsigned char)v;
		} else {
			out[2 * i] = (unsigned char)v;
			out[2 * i + 1] = (unsigned char)(v >> 8);
		}
	}
done:
	if (img) opj_image_destroy(img);
	if (c) opj_destroy_codec(c);
	if (s) opj_stream_destroy(s);
	return rc;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/mhpnet/node/dicom"
)

const j2kName = "JPEG 2000"

// MaxJ2KTiles bounds the tiles a JPEG 2000 codestream may declare: OpenJPEG
// allocates per-tile state from the SIZ marker before decoding.
const MaxJ2KTiles = 4096

// JPEG2000Decoder decodes JPEG 2000 (ITU T.800, 1.2.840.10008.1.2.4.90 and
// .91) through OpenJPEG (libopenjp2) from memory: a raw J2K codestream or a
// JP2 file, whose contiguous codestream box is decoded. The SIZ marker is
// parsed and checked against the DICOM header (size, one component, no
// subsampling, precision, tile count) before OpenJPEG sees the data.
type JPEG2000Decoder struct{}

// DecodeFrame implements dicom.Decoder.
func (JPEG2000Decoder) DecodeFrame(px *dicom.PixelData, f dicom.PixelFormat, frame int) ([]byte, error) {
	if err := checkFormat(j2kName, f); err != nil {
		return nil, err
	}
	data, err := frameData(j2kName, px, frame, isJ2KStart)
	if err != nil {
		return nil, err
	}
	cs, err := j2kCodestream(data)
	if err == nil {
		err = checkSIZ(cs, f)
	}
	if err != nil {
		return nil, withFrame(err, frame)
	}
	out := make([]byte, f.FrameBytes())
	var msg [256]C.char
	rc := C.mhp_j2k_decode(unsafe.Pointer(&cs[0]), C.size_t(len(cs)), C.uint32_t(f.Columns), C.uint32_t(f.Rows),
		C.int(f.BitsAllocated/8), unsafe.Pointer(&out[0]), &msg[0])
	switch rc {
	case 0:
		return out, nil
	case 2:
		return nil, ErrCorruptData{Codec: j2kName, Frame: frame, Reason: "decoded image differs from its SIZ marker"}
	}
	return nil, ErrCorruptData{Codec: j2kName, Frame: frame, Reason: "OpenJPEG: " + trimMsg(C.GoString(&msg[0]))}
}

func trimMsg(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "decoding failed"
	}
	return s
}

// j2kCodestream returns the J2K codestream of a frame: the data itself, or
// the contents of the first Contiguous Codestream box of a JP2 file
// (T.800 I.5.4).
func j2kCodestream(b []byte) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return ErrCorruptData{Codec: j2kName, Reason: fmt.Sprintf(format, a...)}
	}
	if len(b) >= 4 && b[0] == 0xFF && b[1] == 0x4F {
		return b, nil
	}
	if len(b) < len(jp2Signature) || string(b[:len(jp2Signature)]) != jp2Signature {
		return nil, bad("neither a J2K codestream (FF4F) nor a JP2 file")
	}
	for p := 0; p+8 <= len(b); {
		n := uint64(binary.BigEndian.Uint32(b[p:]))
		typ := string(b[p+4 : p+8])
		hdr := uint64(8)
		switch n {
		case 0:
			n = uint64(len(b) - p)
		case 1:
			if p+16 > len(b) {
				return nil, bad("truncated JP2 box at byte %d", p)
			}
			n, hdr = binary.BigEndian.Uint64(b[p+8:]), 16
		}
		if n < hdr || n > uint64(len(b)-p) {
			return nil, bad("JP2 box %q at byte %d has length %d beyond the %d-byte frame", typ, p, n, len(b))
		}
		if typ == "jp2c" {
			return b[p+int(hdr) : p+int(n)], nil
		}
		p += int(n)
	}
	return nil, bad("JP2 file without a codestream box (jp2c)")
}

// checkSIZ checks the SIZ marker (T.800 A.5.1) against the DICOM header.
func checkSIZ(cs []byte, f dicom.PixelFormat) error {
	if len(cs) < 4+38+3 || cs[0] != 0xFF || cs[1] != 0x4F || cs[2] != 0xFF || cs[3] != 0x51 {
		return ErrCorruptData{Codec: j2kName, Reason: "no SIZ marker after SOC"}
	}
	s := cs[4:]
	u32 := func(o int) uint64 { return uint64(binary.BigEndian.Uint32(s[o:])) }
	lsiz := int(binary.BigEndian.Uint16(s))
	xsiz, ysiz, xo, yo := u32(4), u32(8), u32(12), u32(16)
	xt, yt, xto, yto := u32(20), u32(24), u32(28), u32(32)
	csiz := int(binary.BigEndian.Uint16(s[36:]))
	switch {
	case csiz != 1:
		return ErrHeaderMismatch{Codec: j2kName, Attribute: "SamplesPerPixel (0028,0002)", DICOM: 1, Codestream: csiz}
	case lsiz != 38+3*csiz:
		return ErrCorruptData{Codec: j2kName, Reason: fmt.Sprintf("SIZ length %d for %d component(s)", lsiz, csiz)}
	case xo >= xsiz || yo >= ysiz || xt == 0 || yt == 0 || xto > xo || yto > yo || xto+xt <= xo || yto+yt <= yo:
		return ErrCorruptData{Codec: j2kName, Reason: fmt.Sprintf("inconsistent SIZ grid (image %d,%d..%d,%d, tiles %dx%d at %d,%d)",
			xo, yo, xsiz, ysiz, xt, yt, xto, yto)}
	case xsiz-xo != uint64(f.Columns):
		return ErrHeaderMismatch{Codec: j2kName, Attribute: "Columns (0028,0011)", DICOM: f.Columns, Codestream: int(min(xsiz-xo, 1<<31))}
	case ysiz-yo != uint64(f.Rows):
		return ErrHeaderMismatch{Codec: j2kName, Attribute: "Rows (0028,0010)", DICOM: f.Rows, Codestream: int(min(ysiz-yo, 1<<31))}
	}
	if tiles := ((xsiz - xto + xt - 1) / xt) * ((ysiz - yto + yt - 1) / yt); tiles > MaxJ2KTiles {
		return ErrUnsupportedCoding{Codec: j2kName, Feature: fmt.Sprintf("%d tiles (limit %d)", tiles, MaxJ2KTiles)}
	}
	ssiz, xr, yr := s[38], s[39], s[40]
	if prec := int(ssiz&0x7F) + 1; prec > f.BitsAllocated {
		return ErrHeaderMismatch{Codec: j2kName, Attribute: "BitsAllocated (0028,0100) (JPEG 2000 component precision)",
			DICOM: f.BitsAllocated, Codestream: prec}
	}
	if xr != 1 || yr != 1 {
		return ErrUnsupportedCoding{Codec: j2kName, Feature: fmt.Sprintf("component subsampling %dx%d", xr, yr)}
	}
	return nil
}
