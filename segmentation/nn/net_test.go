package nn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestArchValidateAndRadius(t *testing.T) {
	l3 := LayerSpec{Out: 8, Kernel: 3, Dilation: 1}
	tests := []struct {
		name       string
		arch       Arch
		wantErr    error
		wantRadius int
	}{
		{"typical", Arch{InChannels: 2, Layers: []LayerSpec{l3, l3, {8, 3, 2}, {8, 3, 4}}, Classes: 1}, nil, 1 + 1 + 2 + 4},
		{"head only", Arch{InChannels: 1, Classes: 3}, nil, 0},
		{"kernel 5", Arch{InChannels: 1, Layers: []LayerSpec{{4, 5, 2}}, Classes: 2}, nil, 4},
		{"no input channels", Arch{Layers: []LayerSpec{l3}, Classes: 1}, ErrArch, 1},
		{"even kernel", Arch{InChannels: 1, Layers: []LayerSpec{{4, 2, 1}}, Classes: 1}, ErrArch, 0},
		{"zero dilation", Arch{InChannels: 1, Layers: []LayerSpec{{4, 3, 0}}, Classes: 1}, ErrArch, 0},
		{"too many channels", Arch{InChannels: 1, Layers: []LayerSpec{{MaxChannels + 1, 3, 1}}, Classes: 1}, ErrArch, 1},
		{"zero classes", Arch{InChannels: 1, Layers: []LayerSpec{l3}}, ErrArch, 1},
		{"256 classes", Arch{InChannels: 1, Classes: 256}, ErrArch, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.arch.Validate()
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.wantErr)
			}
			var ae *ArchError
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *ArchError", err)
			}
			if got := tc.arch.ReceptiveRadius(); got != tc.wantRadius {
				t.Errorf("ReceptiveRadius() = %d, want %d", got, tc.wantRadius)
			}
			if _, err := NewNet(tc.arch, 1); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("NewNet error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// naiveNet is the float64 reference forward of a whole network (logits).
func naiveNet(n *Net, x []float64, batch int, size [3]int) ([]float64, [3]int) {
	a := n.arch
	specs := a.layers()
	for l, spec := range specs {
		g := newConvGeom(batch, a.inChannels(l), spec.Out, spec.Kernel, spec.Dilation, size)
		x = naiveConv(x, to64(n.w[l]), to64(n.b[l]), g)
		if l < len(specs)-1 {
			for i := range x {
				x[i] = max(x[i], 0)
			}
		}
		size = g.out
	}
	return x, size
}

var testArchs = []struct {
	name string
	arch Arch
}{
	{"binary", Arch{InChannels: 2, Layers: []LayerSpec{{5, 3, 1}, {4, 3, 2}}, Classes: 1}},
	{"three classes", Arch{InChannels: 1, Layers: []LayerSpec{{4, 3, 1}, {3, 1, 1}, {4, 3, 1}}, Classes: 3}},
}

// TestPredictMatchesReferenceAndGraph compares Predict (whole input and
// z-slabs) with the float64 reference and with the gorgonia graph forward.
func TestPredictMatchesReferenceAndGraph(t *testing.T) {
	for i, ta := range testArchs {
		t.Run(ta.name, func(t *testing.T) {
			n, err := NewNet(ta.arch, int64(i))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			for l := range n.b { // non-zero biases exercise the bias path
				for j := range n.b[l] {
					n.b[l][j] = float32(rng.NormFloat64() * 0.1)
				}
			}
			size := [3]int{13, 12, 17}
			x, x64 := randSlice(rng, ta.arch.InChannels*13*12*17, 1)
			logits, osz := naiveNet(n, x64, 1, size)
			if want, _ := ta.arch.OutSize(size); osz != want {
				t.Fatalf("reference out size %v, OutSize %v", osz, want)
			}
			oc := ta.arch.OutChannels()
			ovox := osz[0] * osz[1] * osz[2]
			want := make([]float64, len(logits))
			for v := 0; v < ovox; v++ {
				if oc == 1 {
					want[v] = 1 / (1 + math.Exp(-logits[v]))
					continue
				}
				s := 0.0
				for c := 0; c < oc; c++ {
					s += math.Exp(logits[c*ovox+v])
				}
				for c := 0; c < oc; c++ {
					want[c*ovox+v] = math.Exp(logits[c*ovox+v]) / s
				}
			}
			got, gsz, err := n.Predict(context.Background(), x, size)
			if err != nil || gsz != osz {
				t.Fatalf("Predict: size %v, err %v; want size %v", gsz, err, osz)
			}
			if err := maxAbsErr(got, want); err > 1e-5 {
				t.Errorf("Predict vs float64 reference: max abs error %.3g > 1e-5", err)
			}
			// z-slabs: budget for one output plane at a time.
			n.budget = 1
			slab, _, err := n.Predict(context.Background(), x, size)
			n.budget = predictBudgetFloats
			if err != nil {
				t.Fatal(err)
			}
			if err := maxAbsErr(slab, to64(got)); err > 1e-6 {
				t.Errorf("Predict in z-slabs vs whole: max abs error %.3g > 1e-6", err)
			}
			// gorgonia graph forward of the same weights.
			g := G.NewGraph()
			xn := G.NewTensor(g, tensor.Float32, 5, G.WithShape(1, ta.arch.InChannels, size[2], size[1], size[0]), G.WithValue(tensor.New(tensor.WithShape(1, ta.arch.InChannels, size[2], size[1], size[0]), tensor.WithBacking(x))))
			h := xn
			specs := ta.arch.layers()
			for l, spec := range specs {
				w := G.NewMatrix(g, tensor.Float32, G.WithShape(spec.Out, len(n.w[l])/spec.Out), G.WithValue(tensor.New(tensor.WithShape(spec.Out, len(n.w[l])/spec.Out), tensor.WithBacking(n.w[l]))), G.WithName(fmt.Sprint("w", l)))
				// distinct names: gorgonia merges unnamed leaves of equal type and shape
				b := G.NewVector(g, tensor.Float32, G.WithShape(spec.Out), G.WithValue(tensor.New(tensor.WithShape(spec.Out), tensor.WithBacking(n.b[l]))), G.WithName(fmt.Sprint("b", l)))
				if h, err = Conv3d(h, w, b, ConvParams{Kernel: spec.Kernel, Dilation: spec.Dilation, ReLU: l < len(specs)-1}); err != nil {
					t.Fatal(err)
				}
			}
			vm := G.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			gl := h.Value().Data().([]float32)
			if err := maxAbsErr(gl, logits); err > 1e-5*(1+maxAbs(logits)) {
				t.Errorf("graph logits vs float64 reference: max abs error %.3g", err)
			}
		})
	}
}

func maxAbsErr(a []float32, b []float64) float64 {
	var w float64
	for i := range a {
		w = max(w, abs(float64(a[i])-b[i]))
	}
	return w
}

func maxAbs(b []float64) float64 {
	var m float64
	for _, v := range b {
		m = max(m, abs(v))
	}
	return m
}

// TestLossGradient checks ∂loss/∂logits of the Dice + CE loss against central
// finite differences, binary and softmax, with a mask and a positive weight.
func TestLossGradient(t *testing.T) {
	for _, classes := range []int{1, 3} {
		for _, spec := range []lossSpec{
			{classes: classes, ceW: 1, diceW: 0, posW: 1},
			{classes: classes, ceW: 0, diceW: 1, posW: 1},
			{classes: classes, ceW: 0.7, diceW: 1.3, posW: 3},
		} {
			rng := rand.New(rand.NewPCG(uint64(classes), 4))
			n, vox := 2, 40
			logits := make([]float32, n*classes*vox)
			for i := range logits {
				logits[i] = float32(rng.NormFloat64() * 2)
			}
			tgt := make([]float32, n*vox)
			msk := make([]float32, n*vox)
			for i := range tgt {
				tgt[i] = float32(rng.IntN(max(classes, 2)))
				if rng.IntN(5) > 0 {
					msk[i] = 1
				}
			}
			grad := make([]float32, len(logits))
			spec.eval(logits, tgt, msk, n, vox, grad, 1.5)
			for j := range logits {
				old := logits[j]
				logits[j] = old + 1e-2
				hp := float64(logits[j]) - float64(old)
				lp := spec.eval(logits, tgt, msk, n, vox, nil, 0)
				logits[j] = old - 1e-2
				hm := float64(old) - float64(logits[j])
				lm := spec.eval(logits, tgt, msk, n, vox, nil, 0)
				logits[j] = old
				num := 1.5 * (lp - lm) / (hp + hm)
				if d := abs(num - float64(grad[j])); d > 2e-5+1e-3*abs(num) {
					t.Fatalf("%+v: logit %d: finite difference %.7g, analytic %.7g", spec, j, num, grad[j])
				}
			}
		}
	}
}

// TestTrainingGraphGradient checks the gradients that the TapeMachine
// computes for every parameter tensor of small networks (including the input
// gradient of a Conv3d on a leaf) against finite differences of the float64
// reference network and the loss.
// hFD is small enough that ReLU kinks are rarely crossed; the reference is
// float64 end to end, so its rounding stays far below hFD·gradient.
const hFD = 1e-5

func TestTrainingGraphGradient(t *testing.T) {
	for i, ta := range testArchs {
		t.Run(ta.name, func(t *testing.T) {
			n, err := NewNet(ta.arch, int64(10+i))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(n, TrainOptions{CEWeight: 1, DiceWeight: 0.5, PosWeight: 2})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			// Non-zero biases: with zero biases a voxel whose inputs are all
			// dead sits exactly on the ReLU kink, where finite differences
			// are one-sided.
			for l := range n.b {
				for j := range n.b[l] {
					n.b[l][j] = float32(rng.NormFloat64() * 0.1)
				}
			}
			batch, size := 2, [3]int{10, 9, 11}
			x, x64 := randSlice(rng, batch*ta.arch.InChannels*10*9*11, 1)
			osz, _ := ta.arch.OutSize(size)
			ovox := osz[0] * osz[1] * osz[2]
			tgt := make([]float32, batch*ovox)
			msk := make([]float32, batch*ovox)
			for j := range tgt {
				tgt[j] = float32(rng.IntN(max(ta.arch.Classes, 2)))
				msk[j] = 1
			}
			tg, err := tr.build(batch, size)
			if err != nil {
				t.Fatal(err)
			}
			s5 := func(c int, s [3]int) tensor.Shape { return tensor.Shape{batch, c, s[2], s[1], s[0]} }
			G.Let(tg.x, tensor.New(tensor.WithShape(s5(ta.arch.InChannels, size)...), tensor.WithBacking(x)))
			G.Let(tg.tgt, tensor.New(tensor.WithShape(batch, osz[2], osz[1], osz[0]), tensor.WithBacking(tgt)))
			G.Let(tg.msk, tensor.New(tensor.WithShape(batch, osz[2], osz[1], osz[0]), tensor.WithBacking(msk)))
			if err := tg.vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			tg.vm.Reset()
			spec := lossSpec{classes: ta.arch.Classes, ceW: 1, diceW: 0.5, posW: 2}
			refLoss := func() float64 {
				lg, _ := naiveNet(n, x64, batch, size)
				return evalLoss(spec, lg, tgt, msk, batch, ovox, nil, 0)
			}
			got, _ := scalarValue(tg.loss.Value())
			if want := refLoss(); abs(got-want) > 1e-5*(1+abs(want)) {
				t.Fatalf("graph loss %.8g, reference %.8g", got, want)
			}
			for pi, p := range tg.params {
				gv, err := p.Grad()
				if err != nil {
					t.Fatal(err)
				}
				grad := gv.Data().([]float32)
				param := p.Value().Data().([]float32)
				var gmax float64
				for _, v := range grad {
					gmax = max(gmax, abs(float64(v)))
				}
				if gmax == 0 {
					t.Fatalf("%s: zero gradient", p.Name())
				}
				for trial := 0; trial < 5; trial++ {
					j := rng.IntN(len(param))
					old := param[j]
					h := hFD
					param[j] = old + float32(h)
					hp := float64(param[j]) - float64(old) // the step float32 really took
					lp := refLoss()
					param[j] = old - float32(h)
					hm := float64(old) - float64(param[j])
					lm := refLoss()
					param[j] = old
					num := (lp - lm) / (hp + hm)
					if d := abs(num - float64(grad[j])); d > 2e-3*gmax+1e-5 {
						t.Errorf("param %d (%s)[%d]: finite difference %.6g, graph %.6g (max |grad| %.3g)", pi, p.Name(), j, num, grad[j], gmax)
					}
				}
			}
		})
	}
}

// TestConv3dInputGradThroughGraph checks dL/dx of a Conv3d on a leaf with
// InputGrad set, through G.Grad and the TapeMachine.
func TestConv3dInputGradThroughGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	gm := newConvGeom(2, 3, 4, 3, 2, [3]int{7, 8, 9})
	x, x64 := randSlice(rng, gm.n*gm.inC*gm.inVox(), 1)
	w, w64 := randSlice(rng, gm.outC*gm.kdim(), 0.5)
	g := G.NewGraph()
	xn := G.NewTensor(g, tensor.Float32, 5, G.WithShape(2, 3, 9, 8, 7), G.WithValue(tensor.New(tensor.WithShape(2, 3, 9, 8, 7), tensor.WithBacking(x))), G.WithName("x"))
	wn := G.NewMatrix(g, tensor.Float32, G.WithShape(4, gm.kdim()), G.WithValue(tensor.New(tensor.WithShape(4, gm.kdim()), tensor.WithBacking(w))), G.WithName("w"))
	bn := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithInit(G.Zeroes()), G.WithName("b"))
	y, err := Conv3d(xn, wn, bn, ConvParams{Kernel: 3, Dilation: 2, InputGrad: true})
	if err != nil {
		t.Fatal(err)
	}
	cost := G.Must(G.Sum(y))
	grads, err := G.Grad(cost, xn, wn, bn)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	ones := make([]float64, gm.n*gm.outC*gm.outVox())
	for i := range ones {
		ones[i] = 1
	}
	dx, dw, db := naiveConvBackward(x64, w64, ones, gm)
	for i, want := range [][]float64{dx, dw, db} {
		got := grads[i].Value().Data().([]float32)
		if err := maxRelErr(got, want); err > 2e-6 {
			t.Errorf("gradient %d: max relative error %.3g", i, err)
		}
	}
}

func TestMarshalRoundTripAndCorruption(t *testing.T) {
	n, err := NewNet(testArchs[0].arch, 3)
	if err != nil {
		t.Fatal(err)
	}
	data, err := n.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m Net
	if err := m.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	again, _ := m.MarshalBinary()
	if !bytes.Equal(data, again) {
		t.Fatal("round trip changed the bytes")
	}
	if m.ParamCount() != n.ParamCount() || m.ParamCount() != 2*5*27+5+5*4*27+4+4+1 {
		t.Errorf("ParamCount %d/%d", m.ParamCount(), n.ParamCount())
	}
	x := make([]float32, 2*9*9*9)
	for i := range x {
		x[i] = float32(i%5) * 0.3
	}
	p1, _, err1 := n.Predict(context.Background(), x, [3]int{9, 9, 9})
	p2, _, err2 := m.Predict(context.Background(), x, [3]int{9, 9, 9})
	if err1 != nil || err2 != nil || !slicesEqual(p1, p2) {
		t.Fatalf("decoded net predicts differently (%v, %v)", err1, err2)
	}
	flip := func(i int) []byte { d := bytes.Clone(data); d[i] ^= 0x10; return d }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("XXXX"), data[4:]...)},
		{"truncated", data[:len(data)-9]},
		{"flipped weight bit", flip(len(data) - 20)},
		{"flipped header bit", flip(9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k Net
			if err := k.UnmarshalBinary(tc.data); !errors.Is(err, ErrModelData) {
				t.Fatalf("UnmarshalBinary error %v, want ErrModelData", err)
			}
		})
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestPredictAndStepRejectBadInput(t *testing.T) {
	a := testArchs[0].arch // radius 3, 2 channels
	n, _ := NewNet(a, 1)
	tr, _ := NewTrainer(n, TrainOptions{BatchSize: 1})
	ctx := context.Background()
	okIn := make([]float32, 2*8*8*8)
	okTgt := make([]uint8, 2*2*2)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		run     func() error
		wantErr error
	}{
		{"predict short input", func() error { _, _, err := n.Predict(ctx, okIn[:100], [3]int{8, 8, 8}); return err }, ErrShape},
		{"predict too small", func() error { _, _, err := n.Predict(ctx, okIn[:2*6*6*6], [3]int{6, 6, 6}); return err }, ErrShape},
		{"predict negative size", func() error { _, _, err := n.Predict(ctx, okIn, [3]int{-8, -8, 8}); return err }, ErrShape},
		{"predict cancelled", func() error { _, _, err := n.Predict(cancelled, okIn, [3]int{8, 8, 8}); return err }, context.Canceled},
		{"step wrong batch", func() error {
			_, err := tr.Step(ctx, append(okIn, okIn...), [3]int{8, 8, 8}, append(okTgt, okTgt...), nil)
			return err
		}, ErrShape},
		{"step short targets", func() error { _, err := tr.Step(ctx, okIn, [3]int{8, 8, 8}, okTgt[:3], nil); return err }, ErrShape},
		{"step class 2 in binary", func() error {
			_, err := tr.Step(ctx, okIn, [3]int{8, 8, 8}, []uint8{0, 1, 2, 0, 0, 0, 0, 0}, nil)
			return err
		}, ErrShape},
		{"step short mask", func() error { _, err := tr.Step(ctx, okIn, [3]int{8, 8, 8}, okTgt, []uint8{1}); return err }, ErrShape},
		{"step cancelled", func() error { _, err := tr.Step(cancelled, okIn, [3]int{8, 8, 8}, okTgt, nil); return err }, context.Canceled},
		{"bad options", func() error { _, err := NewTrainer(n, TrainOptions{LearningRate: -1}); return err }, ErrOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
