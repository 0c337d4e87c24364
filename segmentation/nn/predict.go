package nn

import (
	"context"
	"fmt"
	"math"
)

// predictBudgetFloats bounds the activation buffers of one Predict call
// (two ping-pong buffers, 4 bytes a float): inputs whose activations would
// not fit are processed in z-slabs that overlap by 2·ReceptiveRadius planes.
const predictBudgetFloats = 96 << 20 // 2 × 192 MiB at most

// Predict runs the network on one input in = [InChannels][z][y][x] (x
// fastest) of extent size = (x, y, z) and returns the probabilities
// [OutChannels][z'][y'][x'] with outSize = size − 2·ReceptiveRadius per axis:
// sigmoid of the single output for a binary network, softmax over Classes
// otherwise. Output voxel (i, j, k) is centred on input voxel
// (i+r, j+r, k+r), r = ReceptiveRadius. ctx is checked between layers.
func (n *Net) Predict(ctx context.Context, in []float32, size [3]int) (out []float32, outSize [3]int, err error) {
	a := n.arch
	for _, s := range size {
		if s < 1 {
			return nil, outSize, &ShapeError{What: "Predict size", Expected: "positive extents", Found: fmt.Sprint(size)}
		}
	}
	vox := size[0] * size[1] * size[2]
	if vox > math.MaxInt32 || len(in) != a.InChannels*vox {
		return nil, outSize, &ShapeError{What: "Predict input", Expected: fmt.Sprintf("%d×%d floats (channels × x·y·z of %v)", a.InChannels, vox, size), Found: fmt.Sprint(len(in))}
	}
	if outSize, err = a.OutSize(size); err != nil {
		return nil, outSize, err
	}
	if err := ctx.Err(); err != nil {
		return nil, outSize, fmt.Errorf("nn: predict: %w", err)
	}
	r := a.ReceptiveRadius()
	oc := a.OutChannels()
	plane := size[0] * size[1]
	maxC := a.InChannels
	for _, l := range a.Layers {
		maxC = max(maxC, l.Out)
	}
	maxC = max(maxC, oc)
	// Output planes per slab so that one activation buffer fits the budget.
	depth := n.budget/2/(maxC*plane) - 2*r
	depth = max(depth, 1)
	depth = min(depth, outSize[2])
	oPlane := outSize[0] * outSize[1]
	out = make([]float32, oc*oPlane*outSize[2])
	bufLen := maxC * plane * (depth + 2*r)
	bufA, bufB := n.eng.get(bufLen), n.eng.get(bufLen)
	defer n.eng.put(bufA)
	defer n.eng.put(bufB)
	for z0 := 0; z0 < outSize[2]; z0 += depth {
		d := min(depth, outSize[2]-z0)
		ssize := [3]int{size[0], size[1], d + 2*r}
		var src []float32
		if d == outSize[2] {
			src = in
		} else {
			src = (*bufA)[:a.InChannels*plane*ssize[2]]
			for c := 0; c < a.InChannels; c++ {
				copy(src[c*plane*ssize[2]:(c+1)*plane*ssize[2]], in[c*vox+z0*plane:])
			}
		}
		logits, osz, err := n.forward(ctx, src, ssize, bufA, bufB)
		if err != nil {
			return nil, outSize, err
		}
		activate(out, logits, oc, oPlane*outSize[2], z0*oPlane, osz[0]*osz[1]*osz[2], oc == 1)
	}
	return out, outSize, nil
}

// forward runs every layer on one sample held in src (which may alias *bufA),
// ping-ponging between bufA and bufB, and returns the head's logits.
func (n *Net) forward(ctx context.Context, src []float32, size [3]int, bufA, bufB *[]float32) ([]float32, [3]int, error) {
	other := bufB
	specs := n.arch.layers()
	for l, spec := range specs {
		if err := ctx.Err(); err != nil {
			return nil, size, fmt.Errorf("nn: predict: layer %d: %w", l, err)
		}
		g := newConvGeom(1, n.arch.inChannels(l), spec.Out, spec.Kernel, spec.Dilation, size)
		dst := (*other)[:g.outC*g.outVox()]
		n.eng.convForward(dst, src, n.w[l], n.b[l], g, l < len(specs)-1)
		src, size = dst, g.out
		if other == bufB {
			other = bufA
		} else {
			other = bufB
		}
	}
	return src, size, nil
}

// activate writes sigmoid (binary) or softmax over channels of logits
// [oc][vox] into out [oc][outVox] starting at voxel offset off.
func activate(out, logits []float32, oc, outVox, off, vox int, binary bool) {
	if binary {
		dst := out[off : off+vox]
		for i, v := range logits[:vox] {
			dst[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
		return
	}
	for i := 0; i < vox; i++ {
		m := logits[i]
		for c := 1; c < oc; c++ {
			m = max(m, logits[c*vox+i])
		}
		var s float64
		for c := 0; c < oc; c++ {
			e := math.Exp(float64(logits[c*vox+i] - m))
			out[c*outVox+off+i] = float32(e)
			s += e
		}
		inv := 1 / s
		for c := 0; c < oc; c++ {
			out[c*outVox+off+i] = float32(float64(out[c*outVox+off+i]) * inv)
		}
	}
}
