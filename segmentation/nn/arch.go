package nn

import "fmt"

// Limits that keep a malformed architecture (for instance one read from a
// corrupt model file) from requesting unbounded memory.
const (
	MaxChannels = 1024 // per layer, input included
	MaxLayers   = 64
	MaxKernel   = 7
	MaxDilation = 16
	MaxClasses  = 255 // targets are uint8 class indices
)

// LayerSpec is one hidden layer: a Kernel³ convolution with Out output
// channels and the given Dilation, followed by ReLU.
type LayerSpec struct {
	Out      int
	Kernel   int // odd; 3 for the usual 3×3×3
	Dilation int // ≥ 1
}

// Arch describes a fully convolutional network: InChannels input channels,
// hidden Layers (convolution + ReLU each) and a 1×1×1 head with Classes
// outputs. Classes == 1 means a binary problem with one sigmoid output;
// Classes > 1 means softmax over Classes outputs (class 0 = background).
type Arch struct {
	InChannels int
	Layers     []LayerSpec
	Classes    int
}

// Validate reports the first rule the architecture breaks, as an *ArchError
// matching ErrArch.
func (a Arch) Validate() error {
	if a.InChannels < 1 || a.InChannels > MaxChannels {
		return &ArchError{Field: "InChannels", Rule: fmt.Sprintf("must be in [1, %d]", MaxChannels), Value: a.InChannels}
	}
	if len(a.Layers) > MaxLayers {
		return &ArchError{Field: "len(Layers)", Rule: fmt.Sprintf("must be at most %d", MaxLayers), Value: len(a.Layers)}
	}
	for i, l := range a.Layers {
		f := fmt.Sprintf("Layers[%d]", i)
		if l.Out < 1 || l.Out > MaxChannels {
			return &ArchError{Field: f + ".Out", Rule: fmt.Sprintf("must be in [1, %d]", MaxChannels), Value: l.Out}
		}
		if l.Kernel < 1 || l.Kernel > MaxKernel || l.Kernel%2 == 0 {
			return &ArchError{Field: f + ".Kernel", Rule: fmt.Sprintf("must be odd and in [1, %d]", MaxKernel), Value: l.Kernel}
		}
		if l.Dilation < 1 || l.Dilation > MaxDilation {
			return &ArchError{Field: f + ".Dilation", Rule: fmt.Sprintf("must be in [1, %d]", MaxDilation), Value: l.Dilation}
		}
	}
	if a.Classes < 1 || a.Classes > MaxClasses {
		return &ArchError{Field: "Classes", Rule: fmt.Sprintf("must be in [1, %d] (1 = binary sigmoid)", MaxClasses), Value: a.Classes}
	}
	return nil
}

// ReceptiveRadius is the number of voxels the network loses on each side of
// each axis: Σ (Kernel−1)/2·Dilation. An input of n voxels along an axis
// gives n − 2·ReceptiveRadius outputs, the output voxel i being centred on
// input voxel i + ReceptiveRadius.
func (a Arch) ReceptiveRadius() int {
	r := 0
	for _, l := range a.Layers {
		r += (l.Kernel - 1) / 2 * l.Dilation
	}
	return r
}

// OutChannels is the number of output channels: 1 for a binary network,
// Classes otherwise.
func (a Arch) OutChannels() int { return a.Classes }

// OutSize is the output extent (x, y, z) for an input extent, or an
// *ShapeError if the input is too small to give at least one voxel.
func (a Arch) OutSize(in [3]int) ([3]int, error) {
	r := a.ReceptiveRadius()
	var out [3]int
	for i := range in {
		out[i] = in[i] - 2*r
		if out[i] < 1 {
			return out, &ShapeError{What: "input size", Expected: fmt.Sprintf("every axis > %d (2×ReceptiveRadius)", 2*r), Found: fmt.Sprint(in)}
		}
	}
	return out, nil
}

// layers returns every convolution of the network including the head.
func (a Arch) layers() []LayerSpec {
	ls := make([]LayerSpec, 0, len(a.Layers)+1)
	ls = append(ls, a.Layers...)
	return append(ls, LayerSpec{Out: a.Classes, Kernel: 1, Dilation: 1})
}

// inChannels returns the input channel count of layer i (head = len(Layers)).
func (a Arch) inChannels(i int) int {
	if i == 0 {
		return a.InChannels
	}
	return a.Layers[i-1].Out
}
