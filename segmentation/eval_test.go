package segmentation

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mhpnet/node/volume"
)

func TestReportSlices(t *testing.T) {
	g := volume.Geometry{Size: [3]int{10, 10, 20}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	truth, _ := volume.NewLabelVolume(g)
	pred, _ := volume.NewLabelVolume(g)
	set := func(l *volume.LabelVolume, z0, z1 int, v uint8, n int) {
		for z := z0; z <= z1; z++ {
			for i := 0; i < n; i++ {
				l.Labels[g.Index(i%10, i/10, z)] = v
			}
		}
	}
	set(truth, 2, 12, LabelLiver, 60)
	set(pred, 2, 12, LabelLiver, 60)
	set(truth, 4, 6, LabelTumor, 9)   // tumor centred on slice 5
	set(truth, 9, 9, LabelTumor, 4)   // tumor on slice 9
	set(pred, 14, 14, LabelLiver, 30) // liver error on slice 14 (30 voxels)
	set(pred, 3, 3, LabelLiver, 70)   // liver error on slice 3 (10 voxels)
	got := ReportSlices(truth, pred, 12)
	// tumor slices 5 and 9; worst liver slices 14, 3; worst tumor slices 4, 5, 6 (9 errors each), 9
	if diff := cmp.Diff([]int{3, 4, 5, 6, 9, 14}, got); diff != "" {
		t.Errorf("slices (-want +got):\n%s", diff)
	}
}
