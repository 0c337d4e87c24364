// Package dicomweb is the node's only road to the PACS: QIDO-RS to find
// studies, series and instances, WADO-RS to fetch a series as a stream of
// DICOM Part 10 instances, and STOW-RS to store the SEG the node produced.
//
// In the data flow (DESIGN.md §2) it sits at both ends: dicomweb -> dicom ->
// volume -> segmentation -> dicom/seg -> dicomweb. It moves bytes and parses
// only what the web services themselves define (multipart/related bodies and
// the DICOM JSON model of PS3.18 §F); it imports no other node package and
// never decodes pixel data: a series retrieved in its stored transfer syntax
// (the fallback when the PACS cannot transcode) is decoded later by package
// dicom.
//
// A Client is built once from Options (New validates them) and is safe for
// concurrent use. Every call takes a context; transient failures
// (connection errors, 408, 429, 5xx) are retried with exponential back-off
// and jitter, honouring Retry-After. Errors are typed and match the
// sentinels of errors.go with errors.Is.
//
// The subpackage orthanctest starts a real Orthanc (Debian's package) for
// tests and for the demo.
package dicomweb
