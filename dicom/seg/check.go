package seg

import (
	"encoding/binary"
	"fmt"
)

// checkStructure walks a Part 10 file in explicit VR little endian (the
// only transfer syntax the node writes and Read accepts) without
// allocating, and fails when a declared length runs past the end of the
// file or sequences nest too deep. suyashkumar/dicom allocates a value's
// declared length before reading it, so an unchecked 20-byte file could
// ask for 4 GiB.
func checkStructure(b []byte) error {
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		return fmt.Errorf("not a DICOM Part 10 file: no \"DICM\" prefix at byte 128")
	}
	end, err := walk(b, 132, len(b), 0, false)
	if err != nil {
		return err
	}
	if end != len(b) {
		return fmt.Errorf("trailing bytes at offset %d", end)
	}
	return nil
}

const maxNesting = 16

// walk checks the elements of b[off:limit] and returns where it stopped:
// at limit, or after an item delimitation item when inItem.
func walk(b []byte, off, limit, depth int, inItem bool) (int, error) {
	if depth > maxNesting {
		return 0, fmt.Errorf("sequences nested deeper than %d at offset %d", maxNesting, off)
	}
	for off < limit {
		if limit-off < 8 {
			return 0, fmt.Errorf("truncated element header at offset %d", off)
		}
		group := binary.LittleEndian.Uint16(b[off:])
		elem := binary.LittleEndian.Uint16(b[off+2:])
		if group == 0xFFFE {
			// Item delimitation ends the current item.
			if elem == 0xE00D && inItem {
				return off + 8, nil
			}
			return 0, fmt.Errorf("unexpected (FFFE,%04X) at offset %d", elem, off)
		}
		vr := string(b[off+4 : off+6])
		var length uint32
		switch vr {
		case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
			if limit-off < 12 {
				return 0, fmt.Errorf("truncated element header at offset %d", off)
			}
			length = binary.LittleEndian.Uint32(b[off+8:])
			off += 12
		default:
			if vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z' {
				return 0, fmt.Errorf("invalid VR %q at offset %d", vr, off+4)
			}
			length = uint32(binary.LittleEndian.Uint16(b[off+6:]))
			off += 8
		}
		if length == 0xFFFFFFFF {
			if vr != "SQ" {
				return 0, fmt.Errorf("undefined length on %s (%04X,%04X): encapsulated or unknown data is not a native binary SEG", vr, group, elem)
			}
			var err error
			if off, err = walkSequence(b, off, limit, depth+1); err != nil {
				return 0, err
			}
			continue
		}
		if int64(length) > int64(limit-off) {
			return 0, fmt.Errorf("(%04X,%04X) declares %d bytes, %d remain", group, elem, length, limit-off)
		}
		if vr == "SQ" {
			if _, err := walkSequence(b, off, off+int(length), depth+1); err != nil {
				return 0, err
			}
		}
		off += int(length)
	}
	if inItem {
		return 0, fmt.Errorf("item without delimitation before offset %d", limit)
	}
	return off, nil
}

// walkSequence checks the items of a sequence starting at off; with an
// undefined length it stops after the sequence delimitation item.
func walkSequence(b []byte, off, limit, depth int) (int, error) {
	for off < limit {
		if limit-off < 8 {
			return 0, fmt.Errorf("truncated item header at offset %d", off)
		}
		group := binary.LittleEndian.Uint16(b[off:])
		elem := binary.LittleEndian.Uint16(b[off+2:])
		length := binary.LittleEndian.Uint32(b[off+4:])
		off += 8
		switch {
		case group == 0xFFFE && elem == 0xE0DD:
			return off, nil
		case group == 0xFFFE && elem == 0xE000 && length == 0xFFFFFFFF:
			var err error
			if off, err = walk(b, off, limit, depth, true); err != nil {
				return 0, err
			}
		case group == 0xFFFE && elem == 0xE000:
			if int64(length) > int64(limit-off) {
				return 0, fmt.Errorf("item declares %d bytes, %d remain", length, limit-off)
			}
			if _, err := walk(b, off, off+int(length), depth, false); err != nil {
				return 0, err
			}
			off += int(length)
		default:
			return 0, fmt.Errorf("(%04X,%04X) where a sequence item was expected at offset %d", group, elem, off-8)
		}
	}
	return off, nil
}
