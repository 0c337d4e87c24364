package segmentation

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/mhpnet/node/segmentation/nn"
)

//go:embed models/default.mhp
var defaultModelFile []byte

// Model is a trained two-stage MHP-Net: the coarse liver network and the
// tumor network with everything needed to prepare their inputs and to
// post-process their outputs. A Model is safe for concurrent Segment calls.
type Model struct {
	cfg   Config
	liver *nn.Net
	tumor *nn.Net
}

// Config returns a copy of the model's configuration (architecture,
// constants, thresholds, provenance).
func (m *Model) Config() Config {
	c := m.cfg
	c.Tumor.Hessian.SigmasMM = append([]float64(nil), c.Tumor.Hessian.SigmasMM...)
	c.Provenance.Data = append([]string(nil), c.Provenance.Data...)
	return c
}

// WithConfig returns a model with the same weights and configuration c
// (for post-processing settings and gates; the architectures must stay as
// they are, since the weights belong to them).
func (m *Model) WithConfig(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !archEqual(c.Liver.Arch.toNN(), m.cfg.Liver.Arch.toNN()) || !archEqual(c.Tumor.Arch.toNN(), m.cfg.Tumor.Arch.toNN()) {
		return nil, fmt.Errorf("%w: WithConfig cannot change a stage's architecture", ErrModelInvalid)
	}
	return &Model{cfg: c, liver: m.liver, tumor: m.tumor}, nil
}

// DefaultModel returns the model embedded in the binary (trained on IRCAD
// 1.1 only; see its Provenance).
func DefaultModel() (*Model, error) {
	m, err := DecodeModel(defaultModelFile)
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	return m, nil
}

// LoadModel reads a model file written by (*Model).MarshalBinary.
func LoadModel(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("segmentation: load model: %w", err)
	}
	if st.Size() > maxFileBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrModelFormat, path, st.Size(), maxFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("segmentation: load model: %w", err)
	}
	m, err := DecodeModel(data)
	if err != nil {
		return nil, fmt.Errorf("segmentation: load model %s: %w", path, err)
	}
	return m, nil
}

// DecodeModel parses the bytes of a model file.
func DecodeModel(data []byte) (*Model, error) {
	mf, err := decodeModelFile(data)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: mf.Config}
	nets := [2]**nn.Net{&m.liver, &m.tumor}
	archs := [2]ArchSpec{mf.Config.Liver.Arch, mf.Config.Tumor.Arch}
	for i, blob := range mf.Blobs {
		n, err := nn.NewNet(archs[i].toNN(), 1)
		if err != nil {
			return nil, fmt.Errorf("%w: stage %d: %w", ErrModelInvalid, i+1, err)
		}
		if err := n.UnmarshalBinary(blob); err != nil {
			return nil, fmt.Errorf("%w: stage %d weights: %w", ErrModelFormat, i+1, err)
		}
		if !archEqual(n.Arch(), archs[i].toNN()) {
			return nil, fmt.Errorf("%w: stage %d weights have architecture %+v, config says %+v", ErrModelInvalid, i+1, n.Arch(), archs[i])
		}
		*nets[i] = n
	}
	return m, nil
}

// MarshalBinary encodes the model in the versioned model file format.
func (m *Model) MarshalBinary() ([]byte, error) {
	var mf modelFile
	mf.Config = m.cfg
	for i, n := range []*nn.Net{m.liver, m.tumor} {
		b, err := n.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("segmentation: encode stage %d weights: %w", i+1, err)
		}
		mf.Blobs[i] = b
	}
	return encodeModelFile(mf)
}

// Save writes the model file to path.
func (m *Model) Save(path string) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("segmentation: save model: %w", err)
	}
	return nil
}

func (a ArchSpec) toNN() nn.Arch {
	out := nn.Arch{InChannels: a.InChannels, Classes: a.Classes}
	for _, l := range a.Layers {
		out.Layers = append(out.Layers, nn.LayerSpec{Out: l.Out, Kernel: l.Kernel, Dilation: l.Dilation})
	}
	return out
}

func archEqual(a, b nn.Arch) bool {
	if a.InChannels != b.InChannels || a.Classes != b.Classes || len(a.Layers) != len(b.Layers) {
		return false
	}
	for i := range a.Layers {
		if a.Layers[i] != b.Layers[i] {
			return false
		}
	}
	return true
}
