package codec

import (
	"testing"

	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/internal/testdata"
)

// BenchmarkDecode decodes the 512×512 cornerstone CT slice with each codec
// and reports the throughput in MB/s of decoded output (b.SetBytes).
func BenchmarkDecode(b *testing.B) {
	const dir = "data/dicom-codecs/cornerstone-ct/CTImage.dcm_"
	for _, bc := range []struct {
		name, file string
		dec        dicom.Decoder
	}{
		{"RLE", "RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm", RLEDecoder{}},
		{"JPEGLossless57", "JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm", JPEGDecoder{}},
		{"JPEGLossless70", "JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm", JPEGDecoder{}},
		{"JPEGBaseline8", "JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm", JPEGDecoder{}},
		{"JPEGExtended12", "JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm", JPEGDecoder{}},
		{"JPEGLS80", "JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm", JPEGLSDecoder{}},
		{"JPEGLS81", "JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm", JPEGLSDecoder{}},
		{"JPEG2000Lossless90", "JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm", JPEG2000Decoder{}},
		{"JPEG2000Lossy91", "JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm", JPEG2000Decoder{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := readObject(b, testdata.Shared(b, dir+bc.file))
			b.SetBytes(int64(o.format.FrameBytes()))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.dec.DecodeFrame(o.px, o.format, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
