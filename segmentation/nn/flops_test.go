package nn

import (
	"errors"
	"testing"
)

func TestArchFLOPs(t *testing.T) {
	tests := []struct {
		name    string
		arch    Arch
		size    [3]int
		want    float64
		wantErr error
	}{
		{
			// 3→4 channels, 3³ kernel on 10³: output 8³ = 512 voxels,
			// 2·4·(3·27)·512 = 331,776; head 4→1 on 8³: 2·1·4·512 = 4,096.
			name: "one conv and a head",
			arch: Arch{InChannels: 3, Layers: []LayerSpec{{Out: 4, Kernel: 3, Dilation: 1}}, Classes: 1},
			size: [3]int{10, 10, 10},
			want: 331776 + 4096,
		},
		{
			// Dilation 2 shrinks 10 to 6 per axis: 2·2·(1·27)·216 + 2·1·2·216.
			name: "dilated",
			arch: Arch{InChannels: 1, Layers: []LayerSpec{{Out: 2, Kernel: 3, Dilation: 2}}, Classes: 1},
			size: [3]int{10, 10, 10},
			want: 23328 + 864,
		},
		{
			name:    "input smaller than the receptive field",
			arch:    Arch{InChannels: 1, Layers: []LayerSpec{{Out: 2, Kernel: 3, Dilation: 4}}, Classes: 1},
			size:    [3]int{5, 5, 5},
			wantErr: ErrShape,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.arch.FLOPs(tc.size)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("FLOPs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSGEMMPeakPositive(t *testing.T) {
	if g := SGEMMPeak(64, 2); !(g > 0) {
		t.Errorf("SGEMMPeak(64) = %v GFLOP/s, want > 0", g)
	}
	if g := SGEMMPeak(0, 1); g != 0 {
		t.Errorf("SGEMMPeak(0) = %v, want 0", g)
	}
}
