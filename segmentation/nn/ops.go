package nn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConvParams configures one Conv3d node.
type ConvParams struct {
	Kernel   int  // odd kernel size, 3 for 3×3×3; 1 for a 1×1×1 head
	Dilation int  // ≥ 1
	ReLU     bool // fuse a ReLU after the bias
	// InputGrad computes the gradient with respect to x even when x is a
	// leaf of the graph (an input). It is always computed when x is the
	// output of another op; for the first layer it is wasted work.
	InputGrad bool
}

// Conv3d adds a VALID 3D convolution to x's graph: x [N][C][Z][Y][X] (x
// fastest), w [Out][C·Kernel³] (input channel slowest, then kz, ky, kx), b
// [Out]; the result is [N][Out][Z−e][Y−e][X−e] with e = (Kernel−1)·Dilation,
// plus bias and an optional fused ReLU. Everything is float32. The node's
// backward pass gives gradients for w, b and (see InputGrad) x.
//
// Give every parameter node a distinct name (G.WithName): gorgonia v0.9.18
// merges leaves that hash alike, and two unnamed weight matrices of the same
// shape became one node in our tests.
func Conv3d(x, w, b *G.Node, p ConvParams) (*G.Node, error) {
	return conv3d(newEngine(), x, w, b, p)
}

func conv3d(eng *engine, x, w, b *G.Node, p ConvParams) (*G.Node, error) {
	xs, ws, bs := x.Shape(), w.Shape(), b.Shape()
	if p.Kernel < 1 || p.Kernel%2 == 0 || p.Dilation < 1 {
		return nil, &ArchError{Field: "ConvParams.Kernel/Dilation", Rule: "kernel odd ≥ 1, dilation ≥ 1", Value: p.Kernel*100 + p.Dilation}
	}
	kk := p.Kernel * p.Kernel * p.Kernel
	if len(xs) != 5 || len(ws) != 2 || len(bs) != 1 || ws[1] != xs[1]*kk || bs[0] != ws[0] {
		return nil, &ShapeError{What: "Conv3d operands", Expected: "x [N C Z Y X], w [Out C·k³], b [Out]", Found: fmt.Sprintf("x %v, w %v, b %v", xs, ws, bs)}
	}
	for _, n := range []*G.Node{x, w, b} {
		if n.Dtype() != tensor.Float32 {
			return nil, &ShapeError{What: "Conv3d operand " + n.Name(), Expected: "float32", Found: n.Dtype().String()}
		}
	}
	op := &conv3dOp{eng: eng, k: p.Kernel, dil: p.Dilation, relu: p.ReLU, dx: p.InputGrad || x.Op() != nil}
	if _, err := op.geom(xs, ws[0]); err != nil {
		return nil, err
	}
	return G.ApplyOp(op, x, w, b)
}

// geomFromShape converts a [N C Z Y X] shape into a convGeom.
func geomFromShape(s tensor.Shape, outC, k, dil int) convGeom {
	return newConvGeom(s[0], s[1], outC, k, dil, [3]int{s[4], s[3], s[2]})
}

func shapeOut(g convGeom) tensor.Shape {
	return tensor.Shape{g.n, g.outC, g.out[2], g.out[1], g.out[0]}
}

// f32s returns the float32 data of a dense value, or an error.
func f32s(v G.Value, what string) ([]float32, tensor.Shape, error) {
	t, ok := v.(tensor.Tensor)
	if !ok {
		return nil, nil, &ShapeError{What: what, Expected: "a tensor", Found: fmt.Sprintf("%T", v)}
	}
	d, ok := t.Data().([]float32)
	if !ok {
		return nil, nil, &ShapeError{What: what, Expected: "float32 data", Found: fmt.Sprintf("%T", t.Data())}
	}
	return d, t.Shape(), nil
}

// opBuf is an output buffer reused across runs of one graph node.
type opBuf struct{ data []float32 }

func (o *opBuf) tensor(s tensor.Shape, zero bool) (*tensor.Dense, []float32) {
	n := s.TotalSize()
	if cap(o.data) < n {
		o.data = make([]float32, n)
	}
	d := o.data[:n]
	if zero {
		clear(d)
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(d)), d
}

func hashOf(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func t5(a hm.Type) hm.Type { return &G.TensorType{Dims: 5, Of: a} }

// conv3dOp is the forward convolution: (x, w, b) → act(w ⊛ x + b).
type conv3dOp struct {
	eng    *engine
	k, dil int
	relu   bool
	dx     bool
	out    opBuf
}

func (op *conv3dOp) geom(xs tensor.Shape, outC int) (convGeom, error) {
	g := geomFromShape(xs, outC, op.k, op.dil)
	if !g.valid() {
		return g, &ShapeError{What: "Conv3d input", Expected: fmt.Sprintf("every spatial extent > %d", (op.k-1)*op.dil), Found: fmt.Sprint(xs)}
	}
	return g, nil
}

func (op *conv3dOp) Arity() int { return 3 }
func (op *conv3dOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(t5(a), &G.TensorType{Dims: 2, Of: a}, &G.TensorType{Dims: 1, Of: a}, t5(a))
}
func (op *conv3dOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ok1 := in[0].(tensor.Shape)
	ws, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 || len(xs) != 5 || len(ws) != 2 {
		return nil, &ShapeError{What: "Conv3d InferShape", Expected: "x [N C Z Y X] and w [Out K]", Found: fmt.Sprint(in)}
	}
	g, err := op.geom(xs, ws[0])
	if err != nil {
		return nil, err
	}
	return shapeOut(g), nil
}
func (op *conv3dOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 3 {
		return nil, &ShapeError{What: "Conv3d", Expected: "3 operands", Found: fmt.Sprint(len(in))}
	}
	x, xs, err := f32s(in[0], "Conv3d x")
	if err != nil {
		return nil, err
	}
	w, ws, err := f32s(in[1], "Conv3d w")
	if err != nil {
		return nil, err
	}
	b, _, err := f32s(in[2], "Conv3d b")
	if err != nil {
		return nil, err
	}
	g, err := op.geom(xs, ws[0])
	if err != nil {
		return nil, err
	}
	t, d := op.out.tensor(shapeOut(g), false)
	op.eng.convForward(d, x, w, b, g, op.relu)
	return t, nil
}
func (op *conv3dOp) ReturnsPtr() bool      { return false }
func (op *conv3dOp) CallsExtern() bool     { return false }
func (op *conv3dOp) OverwritesInput() int  { return -1 }
func (op *conv3dOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *conv3dOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *conv3dOp) String() string {
	return fmt.Sprintf("Conv3d{k=%d,dil=%d,relu=%t,dx=%t}", op.k, op.dil, op.relu, op.dx)
}
func (op *conv3dOp) DiffWRT(int) []bool { return []bool{op.dx, true, true} }
func (op *conv3dOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if len(in) != 3 {
		return nil, &ShapeError{What: "Conv3d SymDiff", Expected: "3 operands", Found: fmt.Sprint(len(in))}
	}
	x, w := in[0], in[1]
	dy := grad
	var err error
	if op.relu {
		if dy, err = G.ApplyOp(&reluGradOp{}, out, grad); err != nil {
			return nil, err
		}
	}
	ret := make(G.Nodes, 3)
	if op.dx {
		if ret[0], err = G.ApplyOp(&conv3dInputGradOp{eng: op.eng, k: op.k, dil: op.dil, xShape: x.Shape()}, w, dy); err != nil {
			return nil, err
		}
	}
	if ret[1], err = G.ApplyOp(&conv3dWeightGradOp{eng: op.eng, k: op.k, dil: op.dil, wShape: w.Shape()}, x, dy); err != nil {
		return nil, err
	}
	if ret[2], err = G.ApplyOp(&biasGradOp{}, dy); err != nil {
		return nil, err
	}
	return ret, nil
}

// reluGradOp: (out, dy) → dy where out > 0, else 0.
type reluGradOp struct{ out opBuf }

func (op *reluGradOp) Arity() int { return 2 }
func (op *reluGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(t5(a), t5(a), t5(a))
}
func (op *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, &ShapeError{What: "reluGrad InferShape", Expected: "a shape", Found: fmt.Sprint(in[0])}
	}
	return s.Clone(), nil
}
func (op *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	o, s, err := f32s(in[0], "reluGrad out")
	if err != nil {
		return nil, err
	}
	dy, _, err := f32s(in[1], "reluGrad dy")
	if err != nil {
		return nil, err
	}
	if len(dy) != len(o) {
		return nil, &ShapeError{What: "reluGrad dy", Expected: fmt.Sprint(len(o)), Found: fmt.Sprint(len(dy))}
	}
	t, d := op.out.tensor(s, false)
	reluGrad(d, o, dy)
	return t, nil
}
func (op *reluGradOp) ReturnsPtr() bool      { return false }
func (op *reluGradOp) CallsExtern() bool     { return false }
func (op *reluGradOp) OverwritesInput() int  { return -1 }
func (op *reluGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *reluGradOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *reluGradOp) String() string        { return "ReLUGrad" }

// conv3dInputGradOp: (w, dy) → dx.
type conv3dInputGradOp struct {
	eng    *engine
	k, dil int
	xShape tensor.Shape
	out    opBuf
}

func (op *conv3dInputGradOp) Arity() int { return 2 }
func (op *conv3dInputGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(&G.TensorType{Dims: 2, Of: a}, t5(a), t5(a))
}
func (op *conv3dInputGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.xShape.Clone(), nil
}
func (op *conv3dInputGradOp) Do(in ...G.Value) (G.Value, error) {
	w, ws, err := f32s(in[0], "Conv3d input-grad w")
	if err != nil {
		return nil, err
	}
	dy, _, err := f32s(in[1], "Conv3d input-grad dy")
	if err != nil {
		return nil, err
	}
	g := geomFromShape(op.xShape, ws[0], op.k, op.dil)
	if len(dy) != g.n*g.outC*g.outVox() {
		return nil, &ShapeError{What: "Conv3d input-grad dy", Expected: fmt.Sprint(shapeOut(g)), Found: fmt.Sprint(len(dy))}
	}
	t, d := op.out.tensor(op.xShape, false)
	op.eng.convInputGrad(d, dy, w, g)
	return t, nil
}
func (op *conv3dInputGradOp) ReturnsPtr() bool      { return false }
func (op *conv3dInputGradOp) CallsExtern() bool     { return false }
func (op *conv3dInputGradOp) OverwritesInput() int  { return -1 }
func (op *conv3dInputGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *conv3dInputGradOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *conv3dInputGradOp) String() string {
	return fmt.Sprintf("Conv3dInputGrad{k=%d,dil=%d,x=%v}", op.k, op.dil, op.xShape)
}

// conv3dWeightGradOp: (x, dy) → dw.
type conv3dWeightGradOp struct {
	eng    *engine
	k, dil int
	wShape tensor.Shape
	out    opBuf
}

func (op *conv3dWeightGradOp) Arity() int { return 2 }
func (op *conv3dWeightGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(t5(a), t5(a), &G.TensorType{Dims: 2, Of: a})
}
func (op *conv3dWeightGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.wShape.Clone(), nil
}
func (op *conv3dWeightGradOp) Do(in ...G.Value) (G.Value, error) {
	x, xs, err := f32s(in[0], "Conv3d weight-grad x")
	if err != nil {
		return nil, err
	}
	dy, _, err := f32s(in[1], "Conv3d weight-grad dy")
	if err != nil {
		return nil, err
	}
	g := geomFromShape(xs, op.wShape[0], op.k, op.dil)
	if len(dy) != g.n*g.outC*g.outVox() {
		return nil, &ShapeError{What: "Conv3d weight-grad dy", Expected: fmt.Sprint(shapeOut(g)), Found: fmt.Sprint(len(dy))}
	}
	t, d := op.out.tensor(op.wShape, false)
	op.eng.convWeightGrad(d, x, dy, g)
	return t, nil
}
func (op *conv3dWeightGradOp) ReturnsPtr() bool      { return false }
func (op *conv3dWeightGradOp) CallsExtern() bool     { return false }
func (op *conv3dWeightGradOp) OverwritesInput() int  { return -1 }
func (op *conv3dWeightGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *conv3dWeightGradOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *conv3dWeightGradOp) String() string {
	return fmt.Sprintf("Conv3dWeightGrad{k=%d,dil=%d,w=%v}", op.k, op.dil, op.wShape)
}

// biasGradOp: dy [N][Out][…] → Σ dy per output channel.
type biasGradOp struct{ out opBuf }

func (op *biasGradOp) Arity() int { return 1 }
func (op *biasGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(t5(a), &G.TensorType{Dims: 1, Of: a})
}
func (op *biasGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 5 {
		return nil, &ShapeError{What: "biasGrad InferShape", Expected: "[N Out Z Y X]", Found: fmt.Sprint(in[0])}
	}
	return tensor.Shape{s[1]}, nil
}
func (op *biasGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, s, err := f32s(in[0], "bias-grad dy")
	if err != nil {
		return nil, err
	}
	g := geomFromShape(tensor.Shape{s[0], 1, s[2], s[3], s[4]}, s[1], 1, 1)
	t, d := op.out.tensor(tensor.Shape{s[1]}, false)
	convBiasGrad(d, dy, g)
	return t, nil
}
func (op *biasGradOp) ReturnsPtr() bool      { return false }
func (op *biasGradOp) CallsExtern() bool     { return false }
func (op *biasGradOp) OverwritesInput() int  { return -1 }
func (op *biasGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *biasGradOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *biasGradOp) String() string        { return "BiasGrad" }

var (
	_ G.SDOp = (*conv3dOp)(nil)
	_ G.Op   = (*reluGradOp)(nil)
	_ G.Op   = (*conv3dInputGradOp)(nil)
	_ G.Op   = (*conv3dWeightGradOp)(nil)
	_ G.Op   = (*biasGradOp)(nil)
)
