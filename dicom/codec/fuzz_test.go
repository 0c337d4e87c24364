package codec

import (
	"errors"
	"testing"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
)

// fuzzDecoder seeds a fuzz target with the frames of real files and
// decodes mutated frames under mutated pixel formats (up to 1024×1024, 8
// or 16 bits): no panic, no crash in the C libraries, every error a typed
// refusal, and a success exactly FrameBytes() long.
func fuzzDecoder(f *testing.F, dec dicom.Decoder, files ...string) {
	for _, file := range files {
		o := readObject(f, testdata.Shared(f, file))
		for i := range o.px.Frames {
			fr, err := frameData("seed", o.px, i, func(b []byte) bool { return isJPEGStart(b) || isJ2KStart(b) || isRLEStart(b) })
			if err != nil {
				f.Fatal(err)
			}
			fm := o.format
			f.Add(fr, uint16(fm.Rows), uint16(fm.Columns), uint8(fm.BitsAllocated), uint8(fm.BitsStored), uint8(fm.PixelRepresentation))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, rows, cols uint16, ba, bs, pr uint8) {
		fm := dicom.PixelFormat{Rows: int(rows)%1024 + 1, Columns: int(cols)%1024 + 1, SamplesPerPixel: 1, BitsAllocated: 16, PixelRepresentation: int(pr % 2)}
		if ba <= 8 {
			fm.BitsAllocated = 8
		}
		fm.BitsStored = int(bs)%fm.BitsAllocated + 1
		fm.HighBit = fm.BitsStored - 1
		out, err := dec.DecodeFrame(&dicom.PixelData{Fragments: [][]byte{data}, Frames: 1}, fm, 0)
		if err != nil {
			if !errors.Is(err, dicom.ErrRefused) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(out) != fm.FrameBytes() {
			t.Fatalf("%d bytes decoded, FrameBytes is %d", len(out), fm.FrameBytes())
		}
	})
}

const ct0012Dir = "data/dicom-codecs/ct0012/CT0012."

// FuzzRLE fuzzes RLEDecoder.
func FuzzRLE(f *testing.F) {
	fuzzDecoder(f, RLEDecoder{}, csDir+"RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm", ct0012Dir+"not_fragmented_bot_rle.dcm")
}

// FuzzJPEGLossless fuzzes JPEGDecoder on lossless (process 14) frames.
func FuzzJPEGLossless(f *testing.F) {
	fuzzDecoder(f, JPEGDecoder{}, csDir+"JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm",
		csDir+"JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm", ct0012Dir+"fragmented_no_bot_jpeg_lossless.57.dcm")
}

// FuzzJPEGDCT fuzzes JPEGDecoder on 8- and 12-bit DCT frames.
func FuzzJPEGDCT(f *testing.F) {
	fuzzDecoder(f, JPEGDecoder{}, csDir+"JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm",
		csDir+"JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm", ct0012Dir+"fragmented_no_bot_jpeg_baseline.51.dcm")
}

// FuzzJPEGLS fuzzes JPEGLSDecoder (CharLS).
func FuzzJPEGLS(f *testing.F) {
	fuzzDecoder(f, JPEGLSDecoder{}, csDir+"JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm",
		csDir+"JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm", ct0012Dir+"not_fragmented_bot_jpeg_ls.80.dcm")
}

// FuzzJPEG2000 fuzzes JPEG2000Decoder (OpenJPEG).
func FuzzJPEG2000(f *testing.F) {
	fuzzDecoder(f, JPEG2000Decoder{}, csDir+"JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm",
		csDir+"JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm")
}
