package nn

import (
	"context"
	"testing"
)

func TestSmokeStepPredict(t *testing.T) {
	a := Arch{InChannels: 2, Layers: []LayerSpec{{4, 3, 1}, {4, 3, 2}}, Classes: 1}
	n, err := NewNet(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(n, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := [3]int{12, 11, 10}
	os, _ := a.OutSize(size)
	in := make([]float32, 2*2*12*11*10)
	for i := range in {
		in[i] = float32(i%7) / 7
	}
	tg := make([]uint8, 2*os[0]*os[1]*os[2])
	for i := range tg {
		tg[i] = uint8(i % 2)
	}
	w0 := n.w[0][0]
	for i := 0; i < 3; i++ {
		l, err := tr.Step(context.Background(), in, size, tg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(l)
	}
	if n.w[0][0] == w0 {
		t.Fatal("weights not updated")
	}
	out, osz, err := n.Predict(context.Background(), in[:len(in)/2], size)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(osz, out[:4])
}
