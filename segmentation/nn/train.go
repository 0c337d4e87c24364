package nn

import (
	"context"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TrainOptions configures a Trainer. The zero value of each field means the
// default given in its comment.
type TrainOptions struct {
	LearningRate float64 // Adam step size; 0 = 1e-3
	// BatchSize is the number of patches every Step receives; 0 = whatever
	// each Step's inputs hold.
	BatchSize int
	// Seed is recorded for provenance; the weights' randomness comes from
	// NewNet's seed and the data order from the caller.
	Seed int64
	// DiceWeight and CEWeight weigh the loss CE·CEWeight +
	// (1 − soft Dice)·DiceWeight; both 0 = both 1.
	DiceWeight, CEWeight float64
	// PosWeight multiplies the cross-entropy of foreground voxels (target ≥
	// 1); 0 = 1.
	PosWeight float64
	// GradClip clamps every gradient element to [−GradClip, GradClip]; 0 =
	// no clipping.
	GradClip float64
	// WeightDecay is an L2 penalty added by Adam; 0 = none.
	WeightDecay float64
}

func (o TrainOptions) withDefaults() (TrainOptions, error) {
	bad := func(field string, v float64) error {
		return fmt.Errorf("%w: %s = %g must be finite and ≥ 0", ErrOptions, field, v)
	}
	for _, f := range []struct {
		n string
		v float64
	}{{"LearningRate", o.LearningRate}, {"DiceWeight", o.DiceWeight}, {"CEWeight", o.CEWeight}, {"PosWeight", o.PosWeight}, {"GradClip", o.GradClip}, {"WeightDecay", o.WeightDecay}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return o, bad(f.n, f.v)
		}
	}
	if o.BatchSize < 0 {
		return o, fmt.Errorf("%w: BatchSize = %d must be ≥ 0", ErrOptions, o.BatchSize)
	}
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
	}
	if o.DiceWeight == 0 && o.CEWeight == 0 {
		o.DiceWeight, o.CEWeight = 1, 1
	}
	if o.PosWeight == 0 {
		o.PosWeight = 1
	}
	return o, nil
}

// Trainer trains a Net in place with Adam on gorgonia's TapeMachine: after
// every Step the Net's weights are the trained ones, so Predict and
// MarshalBinary see them. A Trainer is not safe for concurrent use.
type Trainer struct {
	net    *Net
	opt    TrainOptions
	solver *G.AdamSolver
	graph  *trainGraph
	tgt    []float32
	msk    []float32
	steps  int
}

// trainGraph is the compiled graph for one batch shape.
type trainGraph struct {
	n      int
	size   [3]int
	g      *G.ExprGraph
	vm     G.VM
	x      *G.Node
	tgt    *G.Node
	msk    *G.Node
	loss   *G.Node
	params G.Nodes
}

// NewTrainer returns a Trainer for n with the options o (defaults applied).
func NewTrainer(n *Net, o TrainOptions) (*Trainer, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := []G.SolverOpt{G.WithLearnRate(o.LearningRate)}
	if o.GradClip > 0 {
		opts = append(opts, G.WithClip(o.GradClip))
	}
	if o.WeightDecay > 0 {
		opts = append(opts, G.WithL2Reg(o.WeightDecay))
	}
	return &Trainer{net: n, opt: o, solver: G.NewAdamSolver(opts...)}, nil
}

// Options returns the options in use, defaults applied.
func (t *Trainer) Options() TrainOptions { return t.opt }

// Steps is the number of successful Steps so far.
func (t *Trainer) Steps() int { return t.steps }

// Step runs one training step on a batch: inputs [B][InChannels][z][y][x]
// with inSize = (x, y, z), targets [B][z'][y'][x'] of class indices (0 or 1
// for a binary net) over the output extent (inSize − 2·ReceptiveRadius), and
// an optional mask of the same size (0 = ignore the voxel; nil = use all).
// It returns the batch loss before the update.
func (t *Trainer) Step(ctx context.Context, inputs []float32, inSize [3]int, targets []uint8, mask []uint8) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("nn: train step: %w", err)
	}
	a := t.net.arch
	outSize, err := a.OutSize(inSize)
	if err != nil {
		return 0, err
	}
	inVox := inSize[0] * inSize[1] * inSize[2]
	outVox := outSize[0] * outSize[1] * outSize[2]
	per := a.InChannels * inVox
	if len(inputs) == 0 || len(inputs)%per != 0 {
		return 0, &ShapeError{What: "Step inputs", Expected: fmt.Sprintf("a multiple of %d floats (%d channels × %v)", per, a.InChannels, inSize), Found: fmt.Sprint(len(inputs))}
	}
	b := len(inputs) / per
	if t.opt.BatchSize > 0 && b != t.opt.BatchSize {
		return 0, &ShapeError{What: "Step inputs", Expected: fmt.Sprintf("BatchSize %d patches", t.opt.BatchSize), Found: fmt.Sprintf("%d patches", b)}
	}
	if len(targets) != b*outVox {
		return 0, &ShapeError{What: "Step targets", Expected: fmt.Sprintf("%d (%d × %v)", b*outVox, b, outSize), Found: fmt.Sprint(len(targets))}
	}
	if mask != nil && len(mask) != len(targets) {
		return 0, &ShapeError{What: "Step mask", Expected: fmt.Sprint(len(targets)), Found: fmt.Sprint(len(mask))}
	}
	maxClass := uint8(max(a.Classes-1, 1))
	t.tgt = grow(t.tgt, len(targets))
	t.msk = grow(t.msk, len(targets))
	for i, v := range targets {
		if v > maxClass {
			return 0, &ShapeError{What: "Step targets", Expected: fmt.Sprintf("class indices ≤ %d", maxClass), Found: fmt.Sprintf("%d at %d", v, i)}
		}
		t.tgt[i] = float32(v)
		t.msk[i] = 1
		if mask != nil && mask[i] == 0 {
			t.msk[i] = 0
		}
	}
	if t.graph == nil || t.graph.n != b || t.graph.size != inSize {
		if t.graph, err = t.build(b, inSize); err != nil {
			return 0, err
		}
	}
	tg := t.graph
	zs, ys, xs := inSize[2], inSize[1], inSize[0]
	oz, oy, ox := outSize[2], outSize[1], outSize[0]
	lets := []struct {
		n *G.Node
		v *tensor.Dense
	}{
		{tg.x, tensor.New(tensor.WithShape(b, a.InChannels, zs, ys, xs), tensor.WithBacking(inputs))},
		{tg.tgt, tensor.New(tensor.WithShape(b, oz, oy, ox), tensor.WithBacking(t.tgt))},
		{tg.msk, tensor.New(tensor.WithShape(b, oz, oy, ox), tensor.WithBacking(t.msk))},
	}
	for _, l := range lets {
		if err := G.Let(l.n, l.v); err != nil {
			return 0, fmt.Errorf("nn: train step: bind %s: %w", l.n.Name(), err)
		}
	}
	err = tg.vm.RunAll()
	tg.vm.Reset() // without Reset the next RunAll silently does nothing
	if err != nil {
		return 0, fmt.Errorf("nn: train step: run graph: %w", err)
	}
	loss, err := scalarValue(tg.loss.Value())
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("%w: loss %g at step %d", ErrNotFinite, loss, t.steps)
	}
	if err := t.solver.Step(G.NodesToValueGrads(tg.params)); err != nil {
		return loss, fmt.Errorf("nn: train step: Adam: %w", err)
	}
	t.syncWeights()
	t.steps++
	return loss, nil
}

// build compiles the graph for batches of b inputs of extent size. The
// parameter nodes are bound to tensors backed by the Net's own weight
// slices, so Adam's in-place update is the Net's update.
func (t *Trainer) build(b int, size [3]int) (*trainGraph, error) {
	a := t.net.arch
	tg := &trainGraph{n: b, size: size, g: G.NewGraph()}
	g := tg.g
	tg.x = G.NewTensor(g, tensor.Float32, 5, G.WithShape(b, a.InChannels, size[2], size[1], size[0]), G.WithName("x"))
	h := tg.x
	specs := a.layers()
	for l, spec := range specs {
		wv := tensor.New(tensor.WithShape(spec.Out, len(t.net.w[l])/spec.Out), tensor.WithBacking(t.net.w[l]))
		bv := tensor.New(tensor.WithShape(spec.Out), tensor.WithBacking(t.net.b[l]))
		w := G.NewMatrix(g, tensor.Float32, G.WithShape(wv.Shape()...), G.WithValue(wv), G.WithName(fmt.Sprintf("w%d", l)))
		bn := G.NewVector(g, tensor.Float32, G.WithShape(spec.Out), G.WithValue(bv), G.WithName(fmt.Sprintf("b%d", l)))
		tg.params = append(tg.params, w, bn)
		var err error
		if h, err = conv3d(t.net.eng, h, w, bn, ConvParams{Kernel: spec.Kernel, Dilation: spec.Dilation, ReLU: l < len(specs)-1}); err != nil {
			return nil, fmt.Errorf("nn: build training graph: layer %d: %w", l, err)
		}
	}
	os := h.Shape()
	tg.tgt = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, os[2], os[3], os[4]), G.WithName("target"))
	tg.msk = G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, os[2], os[3], os[4]), G.WithName("mask"))
	var err error
	spec := lossSpec{classes: a.Classes, ceW: t.opt.CEWeight, diceW: t.opt.DiceWeight, posW: t.opt.PosWeight}
	if tg.loss, err = G.ApplyOp(&lossOp{spec: spec}, h, tg.tgt, tg.msk); err != nil {
		return nil, fmt.Errorf("nn: build training graph: loss: %w", err)
	}
	if _, err = G.Grad(tg.loss, tg.params...); err != nil {
		return nil, fmt.Errorf("nn: build training graph: gradients: %w", err)
	}
	tg.vm = G.NewTapeMachine(g, G.BindDualValues(tg.params...))
	return tg, nil
}

// syncWeights copies parameter values into the Net's slices if gorgonia
// replaced the bound tensors instead of updating them in place.
func (t *Trainer) syncWeights() {
	for i, p := range t.graph.params {
		d, ok := p.Value().Data().([]float32)
		if !ok {
			continue
		}
		l := i / 2
		dst := t.net.w[l]
		if i%2 == 1 {
			dst = t.net.b[l]
		}
		if len(d) > 0 && len(dst) == len(d) && &d[0] != &dst[0] {
			copy(dst, d)
		}
	}
}

func scalarValue(v G.Value) (float64, error) {
	switch x := v.(type) {
	case *G.F32:
		return float64(*x), nil
	case *G.F64:
		return float64(*x), nil
	}
	return 0, &ShapeError{What: "loss value", Expected: "a float32 scalar", Found: fmt.Sprintf("%T", v)}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
