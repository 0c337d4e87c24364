package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// Hand-built hostile objects: each declares more than it holds.

// el encodes an explicit VR little endian element with a declared length
// vl (which may lie) followed by value.
func el(group, elem uint16, vr string, vl uint32, value []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [2]uint16{group, elem})
	b.WriteString(vr)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OD", "OF", "OL", "NA":
		b.Write([]byte{0, 0})
		binary.Write(&b, binary.LittleEndian, vl)
	default:
		binary.Write(&b, binary.LittleEndian, uint16(vl))
	}
	b.Write(value)
	return b.Bytes()
}

// item encodes an item tag with a declared length (implicit, as PS3.5 7.5).
func item(group, elem uint16, vl uint32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [2]uint16{group, elem})
	binary.Write(&b, binary.LittleEndian, vl)
	return b.Bytes()
}

func uidValue(s string) []byte {
	if len(s)%2 == 1 {
		s += "\x00"
	}
	return []byte(s)
}

// part10 wraps a data set in a preamble and a file meta group.
func part10(ts string, dataset []byte) []byte {
	meta := el(0x0002, 0x0010, "UI", uint32(len(uidValue(ts))), uidValue(ts))
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(len(meta)))
	b.Write(el(0x0002, 0x0000, "UL", 4, gl))
	b.Write(meta)
	b.Write(dataset)
	return b.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func deflated(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func hostileObjects(t testing.TB) []struct {
	name string
	data []byte
	want string
} {
	nested := []byte{}
	for range 40 {
		nested = cat(el(0x0008, 0x1115, "SQ", 0xFFFFFFFF, nil), item(0xFFFE, 0xE000, 0xFFFFFFFF), nested)
	}
	return []struct {
		name string
		data []byte
		want string
	}{
		{"4 GiB OB value in a 200-byte file", part10(ExplicitVRLittleEndian, el(0x0009, 0x1010, "OB", 0xFFFFFFF0, []byte{1, 2})),
			"declares 4294967280 bytes"},
		{"string longer than the file", part10(ExplicitVRLittleEndian, el(0x0010, 0x0010, "PN", 60000, []byte("AB"))),
			"declares 60000 bytes"},
		{"item inside a defined-length sequence longer than the sequence",
			part10(ExplicitVRLittleEndian, el(0x0008, 0x1115, "SQ", 8, item(0xFFFE, 0xE000, 1<<30))), "declares 1073741824 bytes"},
		{"sequences nested 40 deep", part10(ExplicitVRLittleEndian, nested), "nested deeper"},
		{"encapsulated fragment longer than the file",
			part10("1.2.840.10008.1.2.4.70", cat(el(0x7FE0, 0x0010, "OB", 0xFFFFFFFF, nil), item(0xFFFE, 0xE000, 0), item(0xFFFE, 0xE000, 1<<31))),
			"declares 2147483648 bytes"},
		{"meta group length beyond the file", func() []byte {
			b := part10(ExplicitVRLittleEndian, nil)
			binary.LittleEndian.PutUint32(b[140:], 1<<30)
			return b
		}(), "group length 1073741824 exceeds"},
		{"not Part 10", []byte("just some text, not DICOM at all"), "not a DICOM Part 10 file"},
		{"deflate bomb", part10(DeflatedExplicitVRLittleEndian, deflated(t, make([]byte, 3<<20))), "inflates beyond 1048576 bytes"},
		{"2000 empty elements", part10(ExplicitVRLittleEndian, make([]byte, 8*2000)), "more than 1000 elements"},
	}
}

// TestCheckStructureHostile: every hostile object is refused by the
// structure check, before the library allocates from a declared length.
func TestCheckStructureHostile(t *testing.T) {
	for _, tc := range hostileObjects(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkStructure(tc.data, limits{maxInflated: 1 << 20, maxElements: 1000})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			// And through the public path: a typed refusal, recorded as a skip.
			b := NewSeriesBuilder(Options{MaxInstanceBytes: 1 << 20, MaxElements: 1000})
			if err := b.AddReader(t.Context(), "hostile", bytes.NewReader(tc.data)); err != nil {
				t.Fatal(err)
			}
			sc := b.Scan()
			if len(sc.Skipped) != 1 || !strings.Contains(sc.Skipped[0].Reason, tc.want) {
				t.Errorf("skipped %+v", sc.Skipped)
			}
			if _, err := sc.Only(); !errors.Is(err, ErrRefused) {
				t.Errorf("Only() = %v, want a refusal", err)
			}
		})
	}
}

// TestCheckStructureValid checks what the walk learns from valid objects.
func TestCheckStructureValid(t *testing.T) {
	slice := defaultSlice("2.25.40", 0, 0)
	tests := []struct {
		name       string
		data       []byte
		ts         string
		pixelBytes int64
		items      int64
		wantErr    error
	}{
		{"synthetic explicit LE", slice.encode(t), ExplicitVRLittleEndian, 24, -1, nil},
		{"unknown transfer syntax", part10("1.2.3.4", nil), "1.2.3.4", -1, -1, ErrUnsupported},
		{"encapsulated, 2 items", part10("1.2.840.10008.1.2.4.70",
			cat(el(0x7FE0, 0x0010, "OB", 0xFFFFFFFF, nil), item(0xFFFE, 0xE000, 0), item(0xFFFE, 0xE000, 2), []byte{1, 2}, item(0xFFFE, 0xE0DD, 0))),
			"1.2.840.10008.1.2.4.70", -1, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := checkStructure(tc.data, limits{maxInflated: 1 << 20, maxElements: 1000})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.TransferSyntaxUID != tc.ts || st.PixelDataBytes != tc.pixelBytes || st.PixelDataItems != tc.items {
				t.Errorf("got %+v, want ts %s, %d pixel bytes, %d items", st, tc.ts, tc.pixelBytes, tc.items)
			}
		})
	}
}
