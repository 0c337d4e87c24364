package main

import (
	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/dicom/codec"
)

// readerOptions are the DICOM reading options of every command: native
// transfer syntaxes plus the local codecs (RLE, JPEG, JPEG-LS, JPEG 2000),
// so compressed series a PACS will not transcode are decoded here.
func readerOptions() dicom.Options {
	return dicom.Options{Decoders: codec.Decoders()}
}
