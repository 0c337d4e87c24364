package seg

// Bit packing of BINARY segmentation frames (PS3.5 8.1.1, PS3.3
// C.8.20.2.1): pixel i of the pixel data stream is bit i%8 of byte i/8,
// least significant bit first, and frames follow one another without
// padding, so a frame starts mid-byte when Rows×Columns is not a multiple
// of 8. suyashkumar/dicom unpacks most significant bit first, so the node
// packs and unpacks these bits itself.

// packedLen is the byte length of n bits of pixel data, padded to an even
// length as PS3.5 7.1.1 requires of every value.
func packedLen(nbits int) int {
	n := (nbits + 7) / 8
	return n + n&1
}

// packBits sets bit off+i of dst (LSB first) for every voxel i whose value
// v has member[v] == 1. member holds only 0 and 1. The bits from off on must
// still be zero in dst (dst is filled front to back).
func packBits(dst []byte, off int, voxels []uint8, member *[256]byte) {
	i := 0
	for ; i < len(voxels) && off&7 != 0; i++ {
		dst[off>>3] |= member[voxels[i]] << (off & 7)
		off++
	}
	j := off >> 3
	for ; i+8 <= len(voxels); i += 8 {
		v := voxels[i : i+8 : i+8]
		dst[j] = member[v[0]] | member[v[1]]<<1 | member[v[2]]<<2 | member[v[3]]<<3 |
			member[v[4]]<<4 | member[v[5]]<<5 | member[v[6]]<<6 | member[v[7]]<<7
		j++
	}
	off = j << 3
	for ; i < len(voxels); i++ {
		dst[off>>3] |= member[voxels[i]] << (off & 7)
		off++
	}
}

// unpackBits writes into dst[i] (0 or 1) bit off+i of src, LSB first.
func unpackBits(dst []uint8, src []byte, off int) {
	for i := range dst {
		b := off + i
		dst[i] = (src[b>>3] >> (b & 7)) & 1
	}
}

// memberTable returns the 0/1 lookup table of a set of label values.
func memberTable(labels []uint8) *[256]byte {
	var t [256]byte
	for _, l := range labels {
		t[l] = 1
	}
	return &t
}
