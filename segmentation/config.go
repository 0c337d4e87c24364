package segmentation

import (
	"fmt"
)

// LayerSpec is one 3×3×3 (or 1×1×1) VALID convolution followed by ReLU.
type LayerSpec struct {
	Out      int `json:"out"`
	Kernel   int `json:"kernel"`
	Dilation int `json:"dilation"`
}

// ArchSpec is a stage's network architecture as stored in the model file:
// VALID convolutions with ReLU, then a 1×1×1 head with Classes outputs.
type ArchSpec struct {
	InChannels int         `json:"in_channels"`
	Layers     []LayerSpec `json:"layers"`
	Classes    int         `json:"classes"`
}

// ReceptiveRadius is the number of input voxels each side of an output voxel
// that the network sees (VALID convolutions shrink every axis by twice this).
func (a ArchSpec) ReceptiveRadius() int {
	r := 0
	for _, l := range a.Layers {
		d := l.Dilation
		if d < 1 {
			d = 1
		}
		r += (l.Kernel - 1) / 2 * d
	}
	return r
}

func (a ArchSpec) validate(stage string) error {
	if a.InChannels < 1 || a.InChannels > 16 {
		return fmt.Errorf("%w: %s stage has %d input channels (want 1..16)", ErrModelInvalid, stage, a.InChannels)
	}
	if len(a.Layers) == 0 || len(a.Layers) > 32 {
		return fmt.Errorf("%w: %s stage has %d layers (want 1..32)", ErrModelInvalid, stage, len(a.Layers))
	}
	for i, l := range a.Layers {
		if l.Out < 1 || l.Out > 512 || (l.Kernel != 1 && l.Kernel != 3) || l.Dilation < 1 || l.Dilation > 16 {
			return fmt.Errorf("%w: %s stage layer %d %+v (want out 1..512, kernel 1 or 3, dilation 1..16)", ErrModelInvalid, stage, i, l)
		}
	}
	if a.Classes < 1 || a.Classes > 8 {
		return fmt.Errorf("%w: %s stage has %d classes", ErrModelInvalid, stage, a.Classes)
	}
	return nil
}

// HUWindow maps HU to network input: clip to [Low, High], then
// (hu - Center) / Scale. For the tumor stage Center is added to the case's
// own liver parenchyma median when RelativeToLiver is set.
type HUWindow struct {
	Low             float32 `json:"low"`
	High            float32 `json:"high"`
	Center          float32 `json:"center"`
	Scale           float32 `json:"scale"`
	RelativeToLiver bool    `json:"relative_to_liver"`
}

func (w HUWindow) apply(hu, ref float32) float32 {
	c := w.Center
	lo, hi := w.Low, w.High
	if w.RelativeToLiver {
		c += ref
		lo += ref
		hi += ref
	}
	if hu < lo {
		hu = lo
	} else if hu > hi {
		hu = hi
	}
	return (hu - c) / w.Scale
}

// LiverConfig configures stage 1 (liver on a coarse grid).
type LiverConfig struct {
	Arch      ArchSpec `json:"arch"`
	SpacingMM float64  `json:"spacing_mm"`
	Window    HUWindow `json:"window"`
	// PositionChannels adds two channels: left-right and anterior-posterior
	// position relative to the body outline of each slice.
	PositionChannels bool    `json:"position_channels"`
	Threshold        float32 `json:"threshold"`
	// RefineLowHU and RefineHighHU (relative to the case's liver parenchyma
	// median; both 0 disables) refine the boundary at full resolution: in
	// the band of one coarse voxel around the coarse boundary, liver voxels
	// whose in-plane 3×3 median HU falls outside [median+Low, median+High]
	// (fat, air, bowel content, bone) are removed.
	RefineLowHU  float32 `json:"refine_low_hu"`
	RefineHighHU float32 `json:"refine_high_hu"`
	// TrimBrightHU (0 disables) removes, anywhere in the liver mask, voxels
	// whose in-plane 3×3 median HU exceeds the parenchyma median by more
	// than this (kidney, heart blood pool, hilar vessels), then refills the
	// holes in 3D and per slice (vessels inside the liver).
	TrimBrightHU float32 `json:"trim_bright_hu,omitempty"`
	// TrimFatHU (absolute HU, 0 disables) removes, anywhere in the liver
	// mask, voxels whose in-plane 3×3 median HU is below it: fat in the
	// fissures and the gallbladder fossa. Holes are not refilled.
	TrimFatHU float32 `json:"trim_fat_hu,omitempty"`
	// MinVolumeML and MaxVolumeML bound a plausible liver; outside, the
	// result carries FlagLiverVolume.
	MinVolumeML float64 `json:"min_volume_ml"`
	MaxVolumeML float64 `json:"max_volume_ml"`
}

// HessianConfig configures the multi-scale blob enhancer of the tumor stage.
type HessianConfig struct {
	SigmasMM []float64 `json:"sigmas_mm"`
	// Dark and Bright select the blob polarities that respond.
	Dark   bool `json:"dark"`
	Bright bool `json:"bright"`
	// Normaliser divides the raw response: a fixed constant learned on the
	// training data, never a per-case statistic.
	Normaliser float32 `json:"normaliser"`
	// Clip bounds the normalised response fed to the network.
	Clip float32 `json:"clip"`
}

// TumorConfig configures stage 2 (tumors inside the liver box).
type TumorConfig struct {
	Arch      ArchSpec `json:"arch"`
	SpacingMM float64  `json:"spacing_mm"`
	MarginMM  float64  `json:"margin_mm"`
	Window    HUWindow `json:"window"`
	// MaskOutside replaces the CT outside the liver mask by the parenchyma
	// median before the network and the Hessian see it, so that the liver
	// edge against fat does not look like a dark blob and the stage does not
	// depend on the anatomy around the liver.
	MaskOutside bool `json:"mask_outside"`
	// UseHessian adds the Hessian response as the second input channel.
	UseHessian bool          `json:"use_hessian"`
	Hessian    HessianConfig `json:"hessian"`
	Threshold  float32       `json:"threshold"`
	// MinComponentML removes smaller tumor components.
	MinComponentML float64 `json:"min_component_ml"`
	// MinContrastHU: a component must be at least this much darker (or,
	// for bright blobs, brighter) than the parenchyma around it, in HU.
	MinContrastHU float64 `json:"min_contrast_hu"`
	// MinHessian: a component's mean normalised Hessian response must reach
	// this value (0 disables the check).
	MinHessian float64 `json:"min_hessian"`
	// MaxEdgeFraction: a component whose 2-voxel shell lies outside the
	// liver mask over more than this share (it sits on the liver boundary,
	// where vessels at the hilum and neighbouring tissue look like dark
	// blobs) is removed unless it reaches EdgeKeepML. 0 disables the check.
	MaxEdgeFraction float64 `json:"max_edge_fraction,omitempty"`
	// EdgeKeepML: components at least this large are kept whatever their
	// edge fraction (a large tumor at the liver edge).
	EdgeKeepML float64 `json:"edge_keep_ml,omitempty"`
	// MaxBurden flags results whose tumor volume exceeds this share of the
	// liver (liver including tumors).
	MaxBurden float64 `json:"max_burden"`
}

// Provenance records how a model was trained.
type Provenance struct {
	Data        []string   `json:"data"`
	Tumors      int        `json:"tumors"`
	Seed        int64      `json:"seed"`
	Date        string     `json:"date"`
	CodeVersion string     `json:"code_version"`
	Steps       [2]int     `json:"steps"`
	FinalLoss   [2]float64 `json:"final_loss"`
	Seconds     float64    `json:"seconds"`
	Notes       string     `json:"notes,omitempty"`
}

// Config is everything in a model file except the weights.
type Config struct {
	Liver      LiverConfig `json:"liver"`
	Tumor      TumorConfig `json:"tumor"`
	Provenance Provenance  `json:"provenance"`
}

// DefaultConfig returns the architecture and post-processing settings the
// trainer starts from.
func DefaultConfig() Config {
	return Config{
		Liver: LiverConfig{
			Arch: ArchSpec{InChannels: 5, Classes: 1, Layers: []LayerSpec{
				{Out: 16, Kernel: 3, Dilation: 1},
				{Out: 16, Kernel: 3, Dilation: 2},
				{Out: 16, Kernel: 3, Dilation: 2},
				{Out: 16, Kernel: 3, Dilation: 1},
			}},
			SpacingMM:        3,
			Window:           HUWindow{Low: -200, High: 300, Center: 100, Scale: 100},
			PositionChannels: true,
			Threshold:        0.35,
			RefineLowHU:      -70,
			RefineHighHU:     100,
			// chosen on the reverse direction (train 1.17, evaluate 1.1),
			// 16-voxel training patches: liver Dice 0.867 (off), 0.879
			// (20), 0.882 (30), 0.880 (40), 0.877 (60), 0.874 (80); 40
			// spares hyperdense tumors most. With the opening after it,
			// 24-voxel patches: 0.901 (off) -> 0.911
			TrimBrightHU: 40,
			// reverse direction: 0.9106 -> 0.9116 (fat in the fissures)
			TrimFatHU:   -30,
			MinVolumeML: 700,
			MaxVolumeML: 4000,
		},
		Tumor: TumorConfig{
			Arch: ArchSpec{InChannels: 2, Classes: 1, Layers: []LayerSpec{
				{Out: 16, Kernel: 3, Dilation: 1},
				{Out: 16, Kernel: 3, Dilation: 2},
				{Out: 16, Kernel: 3, Dilation: 2},
				{Out: 16, Kernel: 3, Dilation: 1},
			}},
			SpacingMM:   2,
			MarginMM:    10,
			MaskOutside: true,
			Window:      HUWindow{Low: -150, High: 100, Center: 0, Scale: 50, RelativeToLiver: true},
			UseHessian:  true,
			Hessian: HessianConfig{
				SigmasMM:   []float64{2, 3, 5, 8, 12, 16},
				Dark:       true,
				Bright:     true,
				Normaliser: 10,
				Clip:       5,
			},
			Threshold: 0.5,
			// 0.5 mL, and the edge gate below, were chosen on the training
			// patient and the reverse direction (commit 5f2fee9): they cut
			// false-positive components on vessels and at the liver edge.
			MinComponentML:  0.5,
			MaxEdgeFraction: 0.3,
			EdgeKeepML:      50,
			MinContrastHU:   8,
			MinHessian:      0,
			MaxBurden:       0.5,
		},
	}
}

// Validate checks a configuration for values the pipeline cannot use.
func (c Config) Validate() error {
	if err := c.Liver.Arch.validate("liver"); err != nil {
		return err
	}
	if err := c.Tumor.Arch.validate("tumor"); err != nil {
		return err
	}
	wantLiver := liverInChannels(c.Liver.PositionChannels)
	if c.Liver.Arch.InChannels != wantLiver {
		return fmt.Errorf("%w: liver stage has %d input channels, its inputs need %d", ErrModelInvalid, c.Liver.Arch.InChannels, wantLiver)
	}
	wantTumor := 1
	if c.Tumor.UseHessian {
		wantTumor = 2
	}
	if c.Tumor.Arch.InChannels != wantTumor {
		return fmt.Errorf("%w: tumor stage has %d input channels, its inputs need %d", ErrModelInvalid, c.Tumor.Arch.InChannels, wantTumor)
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"liver spacing", c.Liver.SpacingMM}, {"tumor spacing", c.Tumor.SpacingMM}} {
		if !(s.v >= 0.5 && s.v <= 10) {
			return fmt.Errorf("%w: %s %.3g mm (want 0.5..10)", ErrModelInvalid, s.name, s.v)
		}
	}
	if c.Liver.Window.Scale <= 0 || c.Tumor.Window.Scale <= 0 || c.Liver.Window.High <= c.Liver.Window.Low || c.Tumor.Window.High <= c.Tumor.Window.Low {
		return fmt.Errorf("%w: HU window needs Scale > 0 and High > Low", ErrModelInvalid)
	}
	if c.Tumor.UseHessian {
		if len(c.Tumor.Hessian.SigmasMM) == 0 || len(c.Tumor.Hessian.SigmasMM) > 16 || !(c.Tumor.Hessian.Normaliser > 0) {
			return fmt.Errorf("%w: Hessian needs 1..16 scales and a positive normaliser", ErrModelInvalid)
		}
		for _, s := range c.Tumor.Hessian.SigmasMM {
			if !(s > 0 && s <= 50) {
				return fmt.Errorf("%w: Hessian scale %.3g mm (want 0..50)", ErrModelInvalid, s)
			}
		}
	}
	if c.Tumor.MarginMM < 0 || c.Tumor.MarginMM > 100 {
		return fmt.Errorf("%w: tumor margin %.3g mm", ErrModelInvalid, c.Tumor.MarginMM)
	}
	return nil
}
