package nn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
)

// Net holds the weights of a network described by an Arch. Predict may be
// called from several goroutines at once; it must not run concurrently with
// a Trainer's Step or UnmarshalBinary on the same Net.
type Net struct {
	arch Arch
	// w[l] is [out][in·k³] (input channel slowest, then kz, ky, kx); b[l] is
	// [out]. Layer len(arch.Layers) is the 1×1×1 head.
	w, b [][]float32
	eng  *engine
	// budget bounds Predict's activation buffers (floats); tests lower it
	// to force z-slabs.
	budget int
}

// NewNet returns a network with He-initialised weights (normal, standard
// deviation √(2/fan-in); the head √(1/fan-in)) and zero biases, drawn from a
// generator seeded with seed: the same seed gives the same weights.
func NewNet(a Arch, seed int64) (*Net, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	n := newNet(a)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d68702d6e6574)) // "mhp-net"
	for l, spec := range n.arch.layers() {
		fanIn := float64(a.inChannels(l) * spec.Kernel * spec.Kernel * spec.Kernel)
		std := math.Sqrt(2 / fanIn)
		if l == len(a.Layers) {
			std = math.Sqrt(1 / fanIn)
		}
		for i := range n.w[l] {
			n.w[l][i] = float32(rng.NormFloat64() * std)
		}
	}
	return n, nil
}

// newNet allocates zero weights for a valid Arch.
func newNet(a Arch) *Net {
	a.Layers = slices.Clone(a.Layers)
	n := &Net{arch: a, eng: newEngine(), budget: predictBudgetFloats}
	for l, spec := range a.layers() {
		k := spec.Kernel
		n.w = append(n.w, make([]float32, spec.Out*a.inChannels(l)*k*k*k))
		n.b = append(n.b, make([]float32, spec.Out))
	}
	return n
}

// Arch returns (a copy of) the network's architecture.
func (n *Net) Arch() Arch {
	a := n.arch
	a.Layers = slices.Clone(a.Layers)
	return a
}

// ParamCount is the number of trainable parameters (weights and biases).
func (n *Net) ParamCount() int {
	c := 0
	for l := range n.w {
		c += len(n.w[l]) + len(n.b[l])
	}
	return c
}

// Serialized form (little endian):
//
//	magic "MHNN", uint32 version,
//	int32 InChannels, int32 len(Layers), {int32 Out, Kernel, Dilation}…, int32 Classes,
//	for each layer including the head: float32 weights, float32 biases,
//	uint32 CRC-32 (IEEE) of everything before it.
const (
	weightsMagic   = "MHNN"
	weightsVersion = 1
)

// MarshalBinary encodes the architecture and weights (see UnmarshalBinary).
func (n *Net) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(weightsMagic)
	le := binary.LittleEndian
	put32 := func(v uint32) { buf.Write(le.AppendUint32(nil, v)) }
	put32(weightsVersion)
	put32(uint32(n.arch.InChannels))
	put32(uint32(len(n.arch.Layers)))
	for _, l := range n.arch.Layers {
		put32(uint32(l.Out))
		put32(uint32(l.Kernel))
		put32(uint32(l.Dilation))
	}
	put32(uint32(n.arch.Classes))
	for l := range n.w {
		for _, v := range n.w[l] {
			put32(math.Float32bits(v))
		}
		for _, v := range n.b[l] {
			put32(math.Float32bits(v))
		}
	}
	put32(crc32.ChecksumIEEE(buf.Bytes()))
	return buf.Bytes(), nil
}

// UnmarshalBinary replaces the network's architecture and weights with the
// encoded ones. Wrong magic, version, architecture, length or checksum give
// an error matching ErrModelData (and ErrArch for a bad architecture); the
// Net is unchanged then. Allocation is bounded by len(data).
func (n *Net) UnmarshalBinary(data []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrModelData, fmt.Sprintf(format, args...))
	}
	if len(data) < 8+4 || string(data[:4]) != weightsMagic {
		return bad("missing %q magic; not an nn weights blob", weightsMagic)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.ChecksumIEEE(body); got != sum {
		return bad("checksum %08x, stored %08x: data truncated or corrupt", got, sum)
	}
	r := body[4:]
	next := func() (int, error) {
		if len(r) < 4 {
			return 0, bad("truncated header")
		}
		v := binary.LittleEndian.Uint32(r)
		r = r[4:]
		if v > math.MaxInt32 {
			return 0, bad("header value %d out of range", v)
		}
		return int(v), nil
	}
	ver, err := next()
	if err != nil {
		return err
	}
	if ver != weightsVersion {
		return bad("version %d, this build reads version %d", ver, weightsVersion)
	}
	var a Arch
	var nl int
	if a.InChannels, err = next(); err != nil {
		return err
	}
	if nl, err = next(); err != nil {
		return err
	}
	if nl > MaxLayers {
		return bad("%d layers, at most %d", nl, MaxLayers)
	}
	for i := 0; i < nl; i++ {
		var l LayerSpec
		if l.Out, err = next(); err != nil {
			return err
		}
		if l.Kernel, err = next(); err != nil {
			return err
		}
		if l.Dilation, err = next(); err != nil {
			return err
		}
		a.Layers = append(a.Layers, l)
	}
	if a.Classes, err = next(); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrModelData, err)
	}
	want := 0
	for l, spec := range a.layers() {
		k := spec.Kernel
		want += spec.Out*a.inChannels(l)*k*k*k + spec.Out
	}
	if len(r) != 4*want {
		return bad("%d bytes of weights, architecture needs %d", len(r), 4*want)
	}
	m := newNet(a)
	for l := range m.w {
		for _, dst := range [][]float32{m.w[l], m.b[l]} {
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(r))
				r = r[4:]
			}
		}
	}
	n.arch, n.w, n.b = m.arch, m.w, m.b
	if n.eng == nil {
		n.eng, n.budget = m.eng, m.budget
	}
	return nil
}
