package segmentation

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mhpnet/node/segmentation/nn"
)

func testModel(t *testing.T) *Model {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Provenance = Provenance{Data: []string{"phantom"}, Tumors: 3, Seed: 9, Date: "2026-12-03T00:00:00Z", CodeVersion: "test", Steps: [2]int{1, 2}}
	m := &Model{cfg: cfg}
	var err error
	if m.liver, err = nn.NewNet(cfg.Liver.Arch.toNN(), 1); err != nil {
		t.Fatal(err)
	}
	if m.tumor, err = nn.NewNet(cfg.Tumor.Arch.toNN(), 2); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestModelFileRoundTrip(t *testing.T) {
	m := testModel(t)
	path := filepath.Join(t.TempDir(), "m.mhp")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Config(), got.Config()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	for i, pair := range [][2]*nn.Net{{m.liver, got.liver}, {m.tumor, got.tumor}} {
		a, _ := pair[0].MarshalBinary()
		b, _ := pair[1].MarshalBinary()
		if !bytes.Equal(a, b) {
			t.Errorf("stage %d weights differ after the round trip", i+1)
		}
	}
	data, _ := os.ReadFile(path)
	if string(data[:8]) != "MHPNETM\n" || binary.LittleEndian.Uint32(data[8:]) != FormatVersion {
		t.Errorf("header % x", data[:12])
	}
}

func TestModelFileRejects(t *testing.T) {
	good, err := testModel(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	resum := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
		return b
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrModelFormat},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), ErrModelFormat},
		{"flipped weight byte", mutate(func(b []byte) []byte { b[len(b)-40] ^= 1; return b }), ErrModelFormat},
		{"truncated", good[:len(good)/2], ErrModelFormat},
		{"future version", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 99); return resum(b) }), ErrModelFormat},
		{"huge config length", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<30); return resum(b) }), ErrModelFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeModel(tc.data)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("invalid config", func(t *testing.T) {
		m := testModel(t)
		m.cfg.Tumor.Hessian.Normaliser = 0
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeModel(b); !errors.Is(err, ErrModelInvalid) {
			t.Errorf("error %v, want ErrModelInvalid", err)
		}
	})
}
