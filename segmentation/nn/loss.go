package nn

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// diceSmooth is the ε of the soft Dice (2I+ε)/(S+ε): a patch without
// foreground and without predicted foreground scores 1, not 0/0.
const diceSmooth = 1

// lossSpec is the training loss: CEWeight·CE + DiceWeight·(1 − soft Dice).
// CE is the masked mean of the (positively weighted) cross-entropy; the soft
// Dice is computed over every masked voxel of the batch, for the single
// foreground of a binary net and averaged over classes 1… otherwise.
type lossSpec struct {
	classes          int
	ceW, diceW, posW float64
}

// eval returns the loss of logits [n][classes][vox] against target [n][vox]
// (class index as float32) and mask [n][vox] (0 = ignore). If grad is not
// nil it receives scale·∂loss/∂logits. Sums are float64 and sequential.
func (l lossSpec) eval(logits, target, mask []float32, n, vox int, grad []float32, scale float64) float64 {
	return evalLoss(l, logits, target, mask, n, vox, grad, scale)
}

// evalLoss is lossSpec.eval for float32 or (in tests) float64 logits.
func evalLoss[T float32 | float64](l lossSpec, logits []T, target, mask []float32, n, vox int, grad []float32, scale float64) float64 {
	k := l.classes
	var m float64
	for _, v := range mask[:n*vox] {
		if v != 0 {
			m++
		}
	}
	if m == 0 {
		clear(grad)
		return 0
	}
	nc := max(k-1, 1) // foreground classes
	inter := make([]float64, k)
	sumP := make([]float64, k)
	sumY := make([]float64, k)
	var ce float64
	prob := func(s, i int, p []float64) { // p gets the probabilities of voxel i of sample s
		if k == 1 {
			p[0] = 1 / (1 + math.Exp(-float64(logits[s*vox+i])))
			return
		}
		base := s * k * vox
		mx := math.Inf(-1)
		for c := 0; c < k; c++ {
			mx = math.Max(mx, float64(logits[base+c*vox+i]))
		}
		var sum float64
		for c := 0; c < k; c++ {
			p[c] = math.Exp(float64(logits[base+c*vox+i]) - mx)
			sum += p[c]
		}
		for c := 0; c < k; c++ {
			p[c] /= sum
		}
	}
	p := make([]float64, k)
	for s := 0; s < n; s++ {
		for i := 0; i < vox; i++ {
			w := float64(mask[s*vox+i])
			if w == 0 {
				continue
			}
			y := int(target[s*vox+i])
			prob(s, i, p)
			if k == 1 {
				z := float64(logits[s*vox+i])
				if y == 1 {
					ce += w * l.posW * softplus(-z) // −log σ(z)
					sumY[0] += w
					inter[0] += w * p[0]
				} else {
					ce += w * softplus(z) // −log(1−σ(z))
				}
				sumP[0] += w * p[0]
				continue
			}
			cw := 1.0
			if y > 0 {
				cw = l.posW
			}
			ce -= w * cw * math.Log(math.Max(p[y], 1e-30))
			for c := 1; c < k; c++ {
				sumP[c] += w * p[c]
			}
			if y > 0 {
				sumY[y] += w
				inter[y] += w * p[y]
			}
		}
	}
	ce /= m
	var dice float64
	first := 1
	if k == 1 {
		first = 0
	}
	for c := first; c < k; c++ {
		dice += (2*inter[c] + diceSmooth) / (sumP[c] + sumY[c] + diceSmooth)
	}
	dice /= float64(nc)
	loss := l.ceW*ce + l.diceW*(1-dice)
	if grad == nil {
		return loss
	}
	// ∂(1−D_c)/∂p_c,i = −w (2 y_c,i S_c − 2 I_c − ε… ) / S_c², with S_c = ΣP+ΣY+ε.
	dd := make([]float64, k) // per class: (2I+ε)/S²
	ss := make([]float64, k) // per class: 2/S
	for c := first; c < k; c++ {
		S := sumP[c] + sumY[c] + diceSmooth
		dd[c] = (2*inter[c] + diceSmooth) / (S * S)
		ss[c] = 2 / S
	}
	g := make([]float64, k)
	for s := 0; s < n; s++ {
		for i := 0; i < vox; i++ {
			w := float64(mask[s*vox+i])
			if w == 0 {
				if k == 1 {
					grad[s*vox+i] = 0
				} else {
					for c := 0; c < k; c++ {
						grad[s*k*vox+c*vox+i] = 0
					}
				}
				continue
			}
			y := int(target[s*vox+i])
			prob(s, i, p)
			if k == 1 {
				var yv float64
				dce := p[0] // y = 0: ∂/∂z softplus(z) = σ(z)
				if y == 1 {
					yv = 1
					dce = l.posW * (p[0] - 1)
				}
				// ∂D/∂p = w(2y/S − (2I+ε)/S²); ∂p/∂z = p(1−p)
				dD := w * (yv*ss[0] - dd[0])
				gz := l.ceW*w*dce/m - l.diceW*dD*p[0]*(1-p[0])
				grad[s*vox+i] = float32(scale * gz)
				continue
			}
			cw := 1.0
			if y > 0 {
				cw = l.posW
			}
			// g_c = ∂loss/∂p_c from Dice; CE handled directly on z.
			var dot float64
			for c := 0; c < k; c++ {
				g[c] = 0
				if c >= 1 {
					var yc float64
					if y == c {
						yc = 1
					}
					g[c] = -l.diceW / float64(nc) * w * (yc*ss[c] - dd[c])
				}
				dot += g[c] * p[c]
			}
			for c := 0; c < k; c++ {
				var yc float64
				if y == c {
					yc = 1
				}
				gz := l.ceW*w*cw*(p[c]-yc)/m + p[c]*(g[c]-dot)
				grad[s*k*vox+c*vox+i] = float32(scale * gz)
			}
		}
	}
	return loss
}

// softplus is log(1+e^x), computed without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// lossOp: (logits [N][K][Z][Y][X], target [N][Z][Y][X], mask [N][Z][Y][X]) → scalar loss.
type lossOp struct {
	spec lossSpec
}

func (op *lossOp) Arity() int { return 3 }
func (op *lossOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4 := &G.TensorType{Dims: 4, Of: a}
	return hm.NewFnType(t5(a), t4, t4, a)
}
func (op *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *lossOp) Do(in ...G.Value) (G.Value, error) {
	logits, tgt, msk, n, vox, err := op.operands(in)
	if err != nil {
		return nil, err
	}
	return G.NewF32(float32(op.spec.eval(logits, tgt, msk, n, vox, nil, 0))), nil
}

func (op *lossOp) operands(in []G.Value) (logits, tgt, msk []float32, n, vox int, err error) {
	if len(in) < 3 {
		return nil, nil, nil, 0, 0, &ShapeError{What: "loss", Expected: "3 operands", Found: fmt.Sprint(len(in))}
	}
	var ls tensor.Shape
	if logits, ls, err = f32s(in[0], "loss logits"); err != nil {
		return
	}
	if tgt, _, err = f32s(in[1], "loss target"); err != nil {
		return
	}
	if msk, _, err = f32s(in[2], "loss mask"); err != nil {
		return
	}
	n, vox = ls[0], ls[2]*ls[3]*ls[4]
	if ls[1] != op.spec.classes || len(tgt) != n*vox || len(msk) != n*vox {
		err = &ShapeError{What: "loss operands", Expected: fmt.Sprintf("logits [N %d Z Y X], target and mask [N Z Y X]", op.spec.classes), Found: fmt.Sprintf("logits %v, %d targets, %d mask", ls, len(tgt), len(msk))}
	}
	return
}
func (op *lossOp) ReturnsPtr() bool      { return false }
func (op *lossOp) CallsExtern() bool     { return false }
func (op *lossOp) OverwritesInput() int  { return -1 }
func (op *lossOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *lossOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *lossOp) String() string        { return fmt.Sprintf("DiceCELoss%+v", op.spec) }
func (op *lossOp) DiffWRT(int) []bool    { return []bool{true, false, false} }
func (op *lossOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&lossGradOp{loss: op}, in[0], in[1], in[2], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d, nil, nil}, nil
}

// lossGradOp: (logits, target, mask, upstream scalar) → ∂loss/∂logits.
type lossGradOp struct {
	loss *lossOp
	out  opBuf
}

func (op *lossGradOp) Arity() int { return 4 }
func (op *lossGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4 := &G.TensorType{Dims: 4, Of: a}
	return hm.NewFnType(t5(a), t4, t4, a, t5(a))
}
func (op *lossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, &ShapeError{What: "loss-grad InferShape", Expected: "a shape", Found: fmt.Sprint(in[0])}
	}
	return s.Clone(), nil
}
func (op *lossGradOp) Do(in ...G.Value) (G.Value, error) {
	logits, tgt, msk, n, vox, err := op.loss.operands(in)
	if err != nil {
		return nil, err
	}
	scale := 1.0
	switch v := in[3].(type) {
	case *G.F32:
		scale = float64(*v)
	case tensor.Tensor:
		if d, ok := v.Data().(float32); ok {
			scale = float64(d)
		} else if d, ok := v.Data().([]float32); ok && len(d) == 1 {
			scale = float64(d[0])
		}
	}
	t, d := op.out.tensor(in[0].(tensor.Tensor).Shape(), false)
	op.loss.spec.eval(logits, tgt, msk, n, vox, d, scale)
	return t, nil
}
func (op *lossGradOp) ReturnsPtr() bool      { return false }
func (op *lossGradOp) CallsExtern() bool     { return false }
func (op *lossGradOp) OverwritesInput() int  { return -1 }
func (op *lossGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *lossGradOp) Hashcode() uint32      { return hashOf(op.String()) }
func (op *lossGradOp) String() string        { return fmt.Sprintf("DiceCELossGrad%+v", op.loss.spec) }

var (
	_ G.SDOp = (*lossOp)(nil)
	_ G.Op   = (*lossGradOp)(nil)
)
