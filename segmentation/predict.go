package segmentation

import (
	"context"
	"fmt"

	"github.com/mhpnet/node/segmentation/nn"
)

// tileOut is the output edge (voxels) of one inference tile: large enough
// that the receptive margin is a small share of the work, small enough that
// the convolution buffers stay in a few hundred MB.
const tileOut = 40

// predictTiled runs net over a whole grid of size sz whose input channels
// are chans (each grid sized, already normalised), reading a margin of r
// voxels around every tile with edges replicated. It returns the foreground
// probability per voxel. Tiles for which skip returns true are left at 0.
func predictTiled(ctx context.Context, net *nn.Net, r int, chans [][]float32, sz [3]int, skip func(lo, hi [3]int) bool) ([]float32, error) {
	prob := make([]float32, sz[0]*sz[1]*sz[2])
	nc := len(chans)
	var in []float32
	for oz := 0; oz < sz[2]; oz += tileOut {
		for oy := 0; oy < sz[1]; oy += tileOut {
			for ox := 0; ox < sz[0]; ox += tileOut {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				lo := [3]int{ox, oy, oz}
				var hi, tsz, isz [3]int
				for a := 0; a < 3; a++ {
					hi[a] = min(lo[a]+tileOut, sz[a])
					tsz[a] = hi[a] - lo[a]
					isz[a] = tsz[a] + 2*r
				}
				if skip != nil && skip(lo, hi) {
					continue
				}
				nv := isz[0] * isz[1] * isz[2]
				if cap(in) < nc*nv {
					in = make([]float32, nc*nv)
				}
				in = in[:nc*nv]
				for c := 0; c < nc; c++ {
					src := chans[c]
					dst := in[c*nv : (c+1)*nv]
					k := 0
					for z := 0; z < isz[2]; z++ {
						sz2 := clampInt(lo[2]+z-r, sz[2])
						for y := 0; y < isz[1]; y++ {
							sy := clampInt(lo[1]+y-r, sz[1])
							base := sz[0] * (sy + sz[1]*sz2)
							for x := 0; x < isz[0]; x++ {
								dst[k] = src[base+clampInt(lo[0]+x-r, sz[0])]
								k++
							}
						}
					}
				}
				out, osz, err := net.Predict(ctx, in, isz)
				if err != nil {
					return nil, fmt.Errorf("segmentation: predict tile at %v: %w", lo, err)
				}
				if osz != tsz {
					return nil, fmt.Errorf("segmentation: predict tile at %v: output %v, want %v", lo, osz, tsz)
				}
				fg := foreground(out, tsz[0]*tsz[1]*tsz[2])
				k := 0
				for z := lo[2]; z < hi[2]; z++ {
					for y := lo[1]; y < hi[1]; y++ {
						base := sz[0] * (y + sz[1]*z)
						for x := lo[0]; x < hi[0]; x++ {
							prob[base+x] = fg[k]
							k++
						}
					}
				}
			}
		}
	}
	return prob, nil
}

// foreground returns the foreground probability from a network output of n
// voxels: the single sigmoid channel, or channel 1 of a softmax.
func foreground(out []float32, n int) []float32 {
	if len(out) >= 2*n {
		return out[n : 2*n]
	}
	return out[:n]
}

func clampInt(v, n int) int {
	if v < 0 {
		return 0
	}
	if v >= n {
		return n - 1
	}
	return v
}
