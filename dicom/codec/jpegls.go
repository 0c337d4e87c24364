//go:build cgo

package codec

/*
#cgo pkg-config: charls
#include <stdint.h>
#include <stdlib.h>
#include <charls/charls.h>

// mhp_jls_info is the header of a JPEG-LS codestream (T.87 C.2.2).
typedef struct {
	uint32_t width, height;
	int32_t bits, components, near;
} mhp_jls_info;

// mhp_jls_decode reads the header of src into info and, when the header
// matches want (width, height, one component, at most want.bits bits per
// sample) and dst_size is the exact decoded size, decodes into dst. It
// returns a charls_jpegls_errc (0 on success) or -1 when the header does not
// match, in which case nothing was decoded. src and dst are used only during
// the call.
static int mhp_jls_decode(const void* src, size_t src_size, void* dst, size_t dst_size,
                          mhp_jls_info want, mhp_jls_info* info) {
	charls_jpegls_decoder* d = charls_jpegls_decoder_create();
	if (d == NULL) {
		return (int)CHARLS_JPEGLS_ERRC_NOT_ENOUGH_MEMORY;
	}
	int rc = (int)charls_jpegls_decoder_set_source_buffer(d, src, src_size);
	if (rc == 0) rc = (int)charls_jpegls_decoder_read_header(d);
	charls_frame_info fi = {0};
	if (rc == 0) rc = (int)charls_jpegls_decoder_get_frame_info(d, &fi);
	if (rc == 0) {
		info->width = fi.width;
		info->height = fi.height;
		info->bits = fi.bits_per_sample;
		info->components = fi.component_count;
		int32_t near = 0;
		rc = (int)charls_jpegls_decoder_get_near_lossless(d, 0, &near);
		info->near = near;
	}
	if (rc == 0) {
		size_t need = 0;
		if (fi.width != want.width || fi.height != want.height || fi.component_count != 1 ||
		    fi.bits_per_sample < 2 || fi.bits_per_sample > want.bits) {
			rc = -1;
		} else {
			rc = (int)charls_jpegls_decoder_get_destination_size(d, 0, &need);
			if (rc == 0 && need != dst_size) rc = -1;
		}
	}
	if (rc == 0) rc = (int)charls_jpegls_decoder_decode_to_buffer(d, dst, dst_size, 0);
	charls_jpegls_decoder_destroy(d);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/mhpnet/node/dicom"
)

const jpeglsName = "JPEG-LS"

// JPEGLSDecoder decodes JPEG-LS lossless and near-lossless (ITU T.87,
// 1.2.840.10008.1.2.4.80 and .81) through CharLS (libcharls), one component
// of 2..16 bits. The frame header is checked against the DICOM header
// inside the same C call, before CharLS decodes anything.
type JPEGLSDecoder struct{}

// DecodeFrame implements dicom.Decoder.
func (JPEGLSDecoder) DecodeFrame(px *dicom.PixelData, f dicom.PixelFormat, frame int) ([]byte, error) {
	if err := checkFormat(jpeglsName, f); err != nil {
		return nil, err
	}
	data, err := frameData(jpeglsName, px, frame, isJPEGStart)
	if err != nil {
		return nil, err
	}
	if !isJPEGStart(data) {
		return nil, ErrCorruptData{Codec: jpeglsName, Frame: frame, Reason: "no SOI marker (FFD8) at the start of the frame"}
	}
	data = withEOI(data)
	// CharLS writes one byte per sample up to 8 bits and two above; the
	// bit depth is only known from the header, so try the DICOM one first.
	out := make([]byte, f.FrameBytes())
	info, rc := jlsDecode(data, out, f)
	if rc == -1 && f.BitsAllocated == 16 && info.bits >= 2 && info.bits <= 8 {
		narrow := make([]byte, f.Rows*f.Columns)
		if info, rc = jlsDecode(data, narrow, f); rc == 0 {
			for i, v := range narrow {
				put(out, 16, i, uint16(v))
			}
		}
	}
	switch {
	case rc == -1:
		return nil, jlsMismatch(info, f)
	case rc != 0:
		return nil, ErrCorruptData{Codec: jpeglsName, Frame: frame,
			Reason: fmt.Sprintf("CharLS error %d: %s", rc, C.GoString(C.charls_get_error_message(C.charls_jpegls_errc(rc))))}
	}
	return out, nil
}

// withEOI returns the codestream ending with its EOI marker (T.87 C.1.1),
// trailing padding removed, adding the marker when it is missing. CharLS
// 2.4.1 spends about 40 s of CPU on a 512×512 stream cut short without an
// EOI (and fails quickly with one), so a truncated frame must never reach
// it as is.
func withEOI(b []byte) []byte {
	end := len(b)
	for end > 2 && b[end-1] == 0 { // even-length padding of the fragment
		end--
	}
	if end >= 2 && b[end-2] == 0xFF && b[end-1] == 0xD9 {
		return b[:end]
	}
	out := make([]byte, end, end+2)
	copy(out, b)
	return append(out, 0xFF, 0xD9)
}

// jlsDecode runs mhp_jls_decode on data into dst.
func jlsDecode(data, dst []byte, f dicom.PixelFormat) (C.mhp_jls_info, int) {
	want := C.mhp_jls_info{width: C.uint32_t(f.Columns), height: C.uint32_t(f.Rows), bits: C.int32_t(f.BitsAllocated)}
	var info C.mhp_jls_info
	rc := C.mhp_jls_decode(unsafe.Pointer(&data[0]), C.size_t(len(data)), unsafe.Pointer(&dst[0]), C.size_t(len(dst)), want, &info)
	return info, int(rc)
}

// jlsMismatch names the first header field that disagrees with DICOM.
func jlsMismatch(info C.mhp_jls_info, f dicom.PixelFormat) error {
	e := ErrHeaderMismatch{Codec: jpeglsName}
	switch {
	case int(info.width) != f.Columns:
		e.Attribute, e.DICOM, e.Codestream = "Columns (0028,0011)", f.Columns, int(info.width)
	case int(info.height) != f.Rows:
		e.Attribute, e.DICOM, e.Codestream = "Rows (0028,0010)", f.Rows, int(info.height)
	case int(info.components) != 1:
		e.Attribute, e.DICOM, e.Codestream = "SamplesPerPixel (0028,0002)", 1, int(info.components)
	default:
		e.Attribute, e.DICOM, e.Codestream = "BitsAllocated (0028,0100) (JPEG-LS sample precision)", f.BitsAllocated, int(info.bits)
	}
	return e
}
