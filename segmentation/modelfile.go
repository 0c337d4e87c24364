package segmentation

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
)

// Model file layout (all integers little-endian):
//
//	magic          8 bytes  "MHPNETM\n"
//	format version uint32   (FormatVersion)
//	config length  uint32, then the Config as JSON
//	blob count     uint32 (2: liver weights, tumor weights), each blob
//	               uint32 length, then the bytes nn's weight marshalling wrote
//	crc32 (IEEE)   uint32 of every byte before it
const (
	modelMagic = "MHPNETM\n"
	// FormatVersion is the model file format this package writes and reads.
	FormatVersion  = 1
	maxConfigBytes = 1 << 20
	maxBlobBytes   = 256 << 20
	maxFileBytes   = 600 << 20
)

// modelFile is the decoded content of a model file.
type modelFile struct {
	Config Config
	Blobs  [2][]byte
}

func encodeModelFile(mf modelFile) ([]byte, error) {
	cfg, err := json.MarshalIndent(mf.Config, "", " ")
	if err != nil {
		return nil, fmt.Errorf("segmentation: encode model config: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(modelMagic)
	put := func(v uint32) { _ = binary.Write(&buf, binary.LittleEndian, v) }
	put(FormatVersion)
	put(uint32(len(cfg)))
	buf.Write(cfg)
	put(uint32(len(mf.Blobs)))
	for _, b := range mf.Blobs {
		put(uint32(len(b)))
		buf.Write(b)
	}
	put(crc32.ChecksumIEEE(buf.Bytes()))
	return buf.Bytes(), nil
}

func decodeModelFile(data []byte) (modelFile, error) {
	var mf modelFile
	if len(data) > maxFileBytes {
		return mf, fmt.Errorf("%w: %d bytes is more than %d", ErrModelFormat, len(data), maxFileBytes)
	}
	if len(data) < len(modelMagic)+8 || string(data[:len(modelMagic)]) != modelMagic {
		return mf, fmt.Errorf("%w: missing magic %q", ErrModelFormat, modelMagic)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.ChecksumIEEE(body); got != sum {
		return mf, fmt.Errorf("%w: checksum %08x, file says %08x (truncated or corrupted)", ErrModelFormat, got, sum)
	}
	r := bytes.NewReader(body[len(modelMagic):])
	u32 := func(what string) (uint32, error) {
		var v uint32
		if err := binary.Read(r, binary.LittleEndian, &v); err != nil {
			return 0, fmt.Errorf("%w: reading %s: %w", ErrModelFormat, what, err)
		}
		return v, nil
	}
	ver, err := u32("format version")
	if err != nil {
		return mf, err
	}
	if ver != FormatVersion {
		return mf, fmt.Errorf("%w: format version %d, this build reads %d", ErrModelFormat, ver, FormatVersion)
	}
	n, err := u32("config length")
	if err != nil {
		return mf, err
	}
	if n > maxConfigBytes || int(n) > r.Len() {
		return mf, fmt.Errorf("%w: config length %d out of range", ErrModelFormat, n)
	}
	cfg := make([]byte, n)
	if _, err := io.ReadFull(r, cfg); err != nil {
		return mf, fmt.Errorf("%w: config: %w", ErrModelFormat, err)
	}
	dec := json.NewDecoder(bytes.NewReader(cfg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mf.Config); err != nil {
		return mf, fmt.Errorf("%w: config JSON: %w", ErrModelFormat, err)
	}
	nb, err := u32("blob count")
	if err != nil {
		return mf, err
	}
	if nb != uint32(len(mf.Blobs)) {
		return mf, fmt.Errorf("%w: %d weight blobs, want %d", ErrModelFormat, nb, len(mf.Blobs))
	}
	for i := range mf.Blobs {
		l, err := u32("blob length")
		if err != nil {
			return mf, err
		}
		if l > maxBlobBytes || int(l) > r.Len() {
			return mf, fmt.Errorf("%w: weight blob %d length %d out of range", ErrModelFormat, i, l)
		}
		mf.Blobs[i] = make([]byte, l)
		if _, err := io.ReadFull(r, mf.Blobs[i]); err != nil {
			return mf, fmt.Errorf("%w: weight blob %d: %w", ErrModelFormat, i, err)
		}
	}
	if r.Len() != 0 {
		return mf, fmt.Errorf("%w: %d trailing bytes", ErrModelFormat, r.Len())
	}
	if err := mf.Config.Validate(); err != nil {
		return mf, err
	}
	return mf, nil
}
