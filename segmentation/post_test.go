package segmentation

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mhpnet/node/volume"
)

// ellipsoidCount counts the voxels of an ellipsoid on a grid of size sz.
func fillEllipsoid(m []uint8, sz [3]int, c, r [3]float64, v uint8) int {
	n := 0
	for z := 0; z < sz[2]; z++ {
		for y := 0; y < sz[1]; y++ {
			for x := 0; x < sz[0]; x++ {
				if inEllipsoid(x, y, z, c, r) {
					m[x+sz[0]*(y+sz[1]*z)] = v
					n++
				}
			}
		}
	}
	return n
}

func TestPostprocessLiver(t *testing.T) {
	sz := [3]int{40, 30, 20}
	n := sz[0] * sz[1] * sz[2]
	// xrel: -1 at x=0 (patient right) to +1 at x=39 (left)
	xrel := make([]float32, n)
	for i := range xrel {
		xrel[i] = float32(i%sz[0])/float32(sz[0]-1)*2 - 1
	}
	liverC, liverR := [3]float64{12, 15, 10}, [3]float64{8, 9, 6}
	t.Run("bridge to a larger left organ is cut, holes filled", func(t *testing.T) {
		m := make([]uint8, n)
		want := fillEllipsoid(m, sz, liverC, liverR, 1)
		// a larger organ on the patient's left (would win "largest component")
		fillEllipsoid(m, sz, [3]float64{30, 15, 10}, [3]float64{9, 12, 8}, 1)
		// a one-voxel bridge between them
		for x := 19; x <= 22; x++ {
			m[x+sz[0]*(15+sz[1]*10)] = 1
		}
		// an enclosed hole (a tumor the network missed) inside the liver
		holes := 0
		for z := 9; z <= 11; z++ {
			for y := 14; y <= 16; y++ {
				for x := 11; x <= 13; x++ {
					m[x+sz[0]*(y+sz[1]*z)] = 0
					holes++
				}
			}
		}
		prob := make([]float32, n)
		for i, v := range m {
			prob[i] = 0.9 * float32(v)
		}
		out, flags := postprocessLiver(prob, 0.5, sz, xrel)
		if len(flags) != 0 {
			t.Errorf("flags %v, want none", flags)
		}
		// the conditional dilation may enter the cut bridge by up to 2 voxels
		if got := countNonzero(out); got < want || got > want+2 {
			t.Errorf("liver voxels %d, want the ellipsoid's %d (+ at most 2 bridge voxels; hole of %d filled, left organ removed)", got, want, holes)
		}
		if out[30+sz[0]*(15+sz[1]*10)] != 0 {
			t.Error("left organ kept")
		}
	})
	t.Run("only a left-sided component is flagged", func(t *testing.T) {
		m := make([]uint8, n)
		want := fillEllipsoid(m, sz, [3]float64{30, 15, 10}, [3]float64{6, 6, 5}, 1)
		prob := make([]float32, n)
		for i, v := range m {
			prob[i] = float32(v)
		}
		out, flags := postprocessLiver(prob, 0.5, sz, xrel)
		if diff := cmp.Diff([]string{FlagLiverPosition}, flags); diff != "" {
			t.Errorf("flags (-want +got):\n%s", diff)
		}
		if got := countNonzero(out); got != want {
			t.Errorf("voxels %d, want %d", got, want)
		}
	})
	t.Run("empty", func(t *testing.T) {
		out, flags := postprocessLiver(make([]float32, n), 0.5, sz, xrel)
		if countNonzero(out) != 0 || len(flags) != 1 || flags[0] != FlagNoLiver {
			t.Errorf("got %d voxels, flags %v", countNonzero(out), flags)
		}
	})
}

func TestFillHolesSlices(t *testing.T) {
	// a tube open at both ends in z: no 3D hole, but a hole in every slice
	sz := [3]int{7, 7, 4}
	m := make([]uint8, 7*7*4)
	for z := 0; z < 4; z++ {
		for y := 1; y <= 5; y++ {
			for x := 1; x <= 5; x++ {
				if x == 1 || x == 5 || y == 1 || y == 5 {
					m[x+7*(y+7*z)] = 1
				}
			}
		}
	}
	c := append([]uint8(nil), m...)
	fillHoles3D(c, sz)
	if got := countNonzero(c); got != 16*4 {
		t.Errorf("3D fill: %d voxels, want 64 (the tube is open)", got)
	}
	fillHolesSlices(m, sz)
	if got := countNonzero(m); got != 25*4 {
		t.Errorf("slice fill: %d voxels, want 100", got)
	}
}

func TestGateFlags(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name             string
		liverML, tumorML float64
		fromModel        bool
		want             []string
	}{
		{"plausible", 1500, 80, true, nil},
		{"small liver", 500, 0, true, []string{FlagLiverVolume}},
		{"huge liver", 4500, 0, true, []string{FlagLiverVolume}},
		{"huge liver given as truth", 4500, 0, false, nil},
		{"burden above half", 1500, 800, true, []string{FlagTumorBurden}},
		{"burden at 40 %", 1500, 600, true, nil},
		{"both", 5000, 3000, true, []string{FlagLiverVolume, FlagTumorBurden}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, gateFlags(cfg, tc.liverML, tc.tumorML, tc.fromModel)); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFinishTumors checks the false-positive rules on a synthetic tumor
// grid: a dark 27-voxel blob is kept, a blob with no contrast and a blob
// under the minimum volume are removed, and a candidate outside the liver is
// never a tumor.
func TestFinishTumors(t *testing.T) {
	g := volume.Geometry{Size: [3]int{30, 20, 10}, Spacing: [3]float64{2, 2, 2}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, _ := volume.NewVolume(g, 100)
	liver := make([]uint8, g.Len())
	for z := 0; z < 10; z++ {
		for y := 0; y < 20; y++ {
			for x := 0; x < 24; x++ {
				liver[g.Index(x, y, z)] = 1
			}
		}
	}
	prob := make([]float32, g.Len())
	setCube := func(x0, y0, z0, n int, hu int16, p float32) {
		for z := z0; z < z0+n; z++ {
			for y := y0; y < y0+n; y++ {
				for x := x0; x < x0+n; x++ {
					v.HU[g.Index(x, y, z)] = hu
					prob[g.Index(x, y, z)] = p
				}
			}
		}
	}
	setCube(3, 3, 3, 3, 50, 0.9)   // dark: kept (27 voxels, 0.216 mL)
	setCube(12, 3, 3, 3, 98, 0.9)  // 2 HU contrast: removed
	setCube(12, 12, 3, 1, 40, 0.9) // 1 voxel, 0.008 mL: removed
	setCube(26, 10, 4, 2, 40, 0.9) // outside the liver (x >= 24): ignored
	cfg := DefaultConfig().Tumor
	cfg.MinComponentML, cfg.MaxEdgeFraction = 0.1, 0 // rules tested on their own; these components are 0.2 mL
	cfg.SpacingMM = 2
	cfg.MarginMM = 0
	cfg.UseHessian = false
	cfg.Arch.InChannels = 1
	tg, err := prepareTumorGrid(t.Context(), cfg, v, liver, box{hi: g.Size})
	if err != nil {
		t.Fatal(err)
	}
	res := finishTumors(cfg, tg, prob, v, liver)
	if res.components != 1 {
		t.Errorf("kept %d components, want 1 (removed: %v)", res.components, res.removed)
	}
	if len(res.removed) != 2 {
		t.Errorf("removed %v, want 2 entries", res.removed)
	}
	if got := countNonzero(res.mask); got != 27 {
		t.Errorf("tumor voxels %d, want 27", got)
	}
	if res.refHU != 100 {
		t.Errorf("parenchyma median %v HU, want 100", res.refHU)
	}
}

// TestFinishTumorsEdgeGate checks the liver-boundary rule on a synthetic
// tumor grid: a dark slab lying along the liver edge (x = 22..23, the liver
// ends at x = 24) is removed when more than MaxEdgeFraction of its shell is
// outside the liver, unless it reaches EdgeKeepML; a dark cube deep inside
// the liver is always kept.
func TestFinishTumorsEdgeGate(t *testing.T) {
	g := volume.Geometry{Size: [3]int{30, 20, 12}, Spacing: [3]float64{2, 2, 2}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, _ := volume.NewVolume(g, 100)
	liver := make([]uint8, g.Len())
	for z := 0; z < 12; z++ {
		for y := 0; y < 20; y++ {
			for x := 0; x < 24; x++ {
				liver[g.Index(x, y, z)] = 1
			}
		}
	}
	prob := make([]float32, g.Len())
	set := func(x0, x1, y0, y1, z0, z1 int) {
		for z := z0; z < z1; z++ {
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					v.HU[g.Index(x, y, z)] = 50
					prob[g.Index(x, y, z)] = 0.9
				}
			}
		}
	}
	set(5, 8, 5, 8, 4, 7)    // interior cube, 27 voxels
	set(22, 24, 4, 14, 3, 9) // edge slab, 2×10×6 = 120 voxels (0.96 mL)
	// The edge slab's 2-voxel (6-neighbourhood) shell: 152 voxels at
	// x = 24..25 outside the liver, 288 inside (152 at x = 20..21, 56 on
	// the y sides, 80 on the z sides): edge fraction 152/440.
	{
		cfg := DefaultConfig().Tumor
		cfg.MinComponentML, cfg.MaxEdgeFraction = 0.1, 0 // rules tested on their own; these components are 0.2 mL
		cfg.SpacingMM, cfg.MarginMM, cfg.UseHessian, cfg.Arch.InChannels = 2, 0, false, 1
		tg, err := prepareTumorGrid(t.Context(), cfg, v, liver, box{hi: g.Size})
		if err != nil {
			t.Fatal(err)
		}
		m := make([]uint8, len(prob))
		for i, p := range prob {
			if p > 0.5 {
				m[i] = 1
			}
		}
		lab, sizes := components(m, tg.ct.size)
		st := componentStats(lab, len(sizes), tg, tg.ct.size)
		edge := st[lab[g.Index(22, 4, 3)]].edge
		if want := 152.0 / 440; math.Abs(edge-want) > 1e-9 {
			t.Errorf("edge slab shell outside the liver %.4f, want %.4f", edge, want)
		}
		if in := st[lab[g.Index(5, 5, 4)]].edge; in != 0 {
			t.Errorf("interior cube edge fraction %.4f, want 0", in)
		}
	}
	for _, tc := range []struct {
		name      string
		maxEdge   float64
		keepML    float64
		wantComps int
		wantVox   int
	}{
		{"gate off", 0, 0, 2, 147},
		{"edge slab removed", 0.2, 5, 1, 27},
		{"loose fraction keeps it", 0.5, 5, 2, 147},
		{"large enough to keep", 0.2, 0.9, 2, 147},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig().Tumor
			cfg.MinComponentML, cfg.MaxEdgeFraction = 0.1, 0 // rules tested on their own; these components are 0.2 mL
			cfg.SpacingMM = 2
			cfg.MarginMM = 0
			cfg.UseHessian = false
			cfg.Arch.InChannels = 1
			cfg.MaxEdgeFraction = tc.maxEdge
			cfg.EdgeKeepML = tc.keepML
			tg, err := prepareTumorGrid(t.Context(), cfg, v, liver, box{hi: g.Size})
			if err != nil {
				t.Fatal(err)
			}
			res := finishTumors(cfg, tg, prob, v, liver)
			if res.components != tc.wantComps {
				t.Errorf("kept %d components, want %d (removed: %v)", res.components, tc.wantComps, res.removed)
			}
			if got := countNonzero(res.mask); got != tc.wantVox {
				t.Errorf("tumor voxels %d, want %d", got, tc.wantVox)
			}
		})
	}
}

// TestRefineLiver checks the full-resolution boundary refinement on a
// synthetic abdomen (1 mm voxels, 3 mm coarse grid): a liver-like ellipsoid
// (100 HU) with a tumor bulging out of its right edge (55 HU, 45 HU darker
// than the parenchyma), touching a bright adjacent organ (230 HU, a
// contrast-filled kidney) and surrounded by fat (-100 HU). The coarse mask
// overshoots by one coarse voxel everywhere. The refinement must keep the
// whole tumor (it is liver for the liver stage), drop the fat and the organ
// beyond a one-voxel rim, and keep the parenchyma.
func TestRefineLiver(t *testing.T) {
	g := volume.Geometry{Size: [3]int{66, 60, 30}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, err := volume.NewVolume(g, -100)
	if err != nil {
		t.Fatal(err)
	}
	const (
		fat, liverHU, tumorHU, organHU = -100, 100, 55, 230
	)
	liverC, liverR := [3]float64{30, 30, 15}, [3]float64{16, 20, 11}
	tumorC, tumorR := [3]float64{14, 30, 15}, [3]float64{6, 6, 6}  // centred on the liver's edge
	organC, organR := [3]float64{52, 30, 15}, [3]float64{7, 10, 8} // touches the liver's left edge (x = 46)
	kind := make([]uint8, g.Len())                                 // 0 fat, 1 liver, 2 tumor, 3 organ
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				i := g.Index(x, y, z)
				switch {
				case inEllipsoid(x, y, z, tumorC, tumorR):
					kind[i], v.HU[i] = 2, tumorHU
				case inEllipsoid(x, y, z, liverC, liverR):
					kind[i], v.HU[i] = 1, liverHU
				case inEllipsoid(x, y, z, organC, organR):
					kind[i], v.HU[i] = 3, organHU
				}
			}
		}
	}
	// the network's liver: liver ∪ tumor grown in-plane by 3 mm (one
	// coarse voxel)
	lt := make([]uint8, g.Len())
	for i, k := range kind {
		if k == 1 || k == 2 {
			lt[i] = 1
		}
	}
	nx, plane := g.Size[0], g.Size[0]*g.Size[1]
	mask := lt
	for it := 0; it < 3; it++ {
		next := append([]uint8(nil), mask...)
		for i, m := range mask {
			if m == 0 {
				continue
			}
			x, y := i%nx, (i%plane)/nx
			if x > 0 {
				next[i-1] = 1
			}
			if x < nx-1 {
				next[i+1] = 1
			}
			if y > 0 {
				next[i-nx] = 1
			}
			if y < g.Size[1]-1 {
				next[i+nx] = 1
			}
		}
		mask = next
	}
	// a voxel whose in-plane 3×3 neighbourhood is all liver or tumor has
	// no partial volume with fat or organ: it must be kept
	pure := func(i int) bool {
		x, y := i%nx, (i%plane)/nx
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				xx, yy := x+dx, y+dy
				if xx < 0 || yy < 0 || xx >= nx || yy >= g.Size[1] {
					return false
				}
				if k := kind[i+dx+dy*nx]; k != 1 && k != 2 {
					return false
				}
			}
		}
		return true
	}
	coarse := newGridLayout(g, box{hi: g.Size}, 3)
	cm := downsampleLabels(&volume.LabelVolume{Geometry: g, Labels: mask}, box{hi: g.Size}, coarse, func(l uint8) bool { return l != 0 })
	cmask := make([]uint8, coarse.len())
	for i, f := range cm.data {
		if f >= 0.5 {
			cmask[i] = 1
		}
	}
	var before [4]int
	for i, m := range mask {
		if m != 0 {
			before[kind[i]]++
		}
	}
	if before[0] == 0 || before[3] == 0 {
		t.Fatalf("the overshooting mask covers %d fat and %d organ voxels; the test needs both", before[0], before[3])
	}
	refineLiver(v, mask, box{hi: g.Size}, coarse, cmask, -70, 100)
	// a voxel of fat or organ within one voxel (6-neighbourhood) of the
	// liver or tumor may stay (its in-plane 3×3 median may be parenchyma),
	// and so may fat enclosed in a slice by liver and tumor (the crevice
	// where the tumor bulges out: holes are filled per slice by design)
	rim := dilate6(lt, g.Size)
	fillHolesSlices(rim, g.Size)
	var kept, far, pureLost [4]int
	for i, m := range mask {
		if m == 0 {
			if lt[i] != 0 && pure(i) {
				pureLost[kind[i]]++
			}
			continue
		}
		kept[kind[i]]++
		if rim[i] == 0 {
			far[kind[i]]++
		}
	}
	t.Logf("voxels before/after: fat %d/%d, liver %d/%d, tumor %d/%d, organ %d/%d", before[0], kept[0], before[1], kept[1], before[2], kept[2], before[3], kept[3])
	if pureLost[2] != 0 || kept[2] < before[2]*9/10 {
		t.Errorf("tumor at the liver edge: %d of %d voxels kept, %d without partial volume lost; want at least 90 %% and none of those", kept[2], before[2], pureLost[2])
	}
	if pureLost[1] != 0 || kept[1] < before[1]*97/100 {
		t.Errorf("parenchyma: %d of %d voxels kept, %d without partial volume lost; want at least 97 %% and none of those", kept[1], before[1], pureLost[1])
	}
	// fat in the narrow gap between the liver and the organ, where the 3×3
	// window straddles three tissues, may survive: at most 2 % of the
	// overshoot (51 of 5565 measured)
	if far[0] > before[0]/50 || far[3] != 0 {
		t.Errorf("kept %d fat (of %d) and %d organ voxels more than one voxel from the liver, want at most 2 %% of the fat and no organ", far[0], before[0], far[3])
	}
}

// TestTrimBright checks the bright trim on a synthetic abdomen (1 mm
// voxels): a liver ellipsoid (100 HU) holding a vessel (180 HU) and a
// hyperdense tumor (130 HU), a contrast-filled kidney (190 HU) and a hilar
// vessel (170 HU) both wrongly inside the mask and touching the liver. The
// kidney and the hilar vessel go; the enclosed vessel returns with the hole
// filling; the tumor, 30 HU over the parenchyma, stays, and so does a
// calcification (900 HU) on the liver's surface (far brighter than blood:
// the boundary refinement's business, not the bright trim's). Where the hilar
// vessel touches the parenchyma, a voxel whose 3×3 neighbourhood is mostly
// liver may stay (partial volume): only those.
func TestTrimBright(t *testing.T) {
	g := volume.Geometry{Size: [3]int{70, 50, 30}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, err := volume.NewVolume(g, -100)
	if err != nil {
		t.Fatal(err)
	}
	kind := make([]uint8, g.Len()) // 0 fat, 1 liver, 2 vessel, 3 tumor, 4 kidney, 5 hilar vessel, 6 calcification
	mask := make([]uint8, g.Len())
	liverC, liverR := [3]float64{28, 25, 15}, [3]float64{18, 18, 12}
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				i := g.Index(x, y, z)
				inLiver := inEllipsoid(x, y, z, liverC, liverR)
				switch {
				case inLiver && inEllipsoid(x, y, z, [3]float64{28, 8, 15}, [3]float64{3, 2, 3}):
					kind[i], v.HU[i] = 6, 900
				case inLiver && inEllipsoid(x, y, z, [3]float64{22, 25, 15}, [3]float64{3, 3, 6}):
					kind[i], v.HU[i] = 2, 180
				case inLiver && inEllipsoid(x, y, z, [3]float64{34, 20, 15}, [3]float64{4, 4, 4}):
					kind[i], v.HU[i] = 3, 130
				case inLiver:
					kind[i], v.HU[i] = 1, 100
				case inEllipsoid(x, y, z, [3]float64{54, 25, 15}, [3]float64{8, 10, 8}):
					kind[i], v.HU[i] = 4, 190
				case inEllipsoid(x, y, z, [3]float64{28, 45, 15}, [3]float64{4, 4, 4}):
					kind[i], v.HU[i] = 5, 170
				}
				if kind[i] != 0 {
					mask[i] = 1
				}
			}
		}
	}
	var before [7]int
	for i, m := range mask {
		if m != 0 {
			before[kind[i]]++
		}
	}
	trimBright(v, mask, box{hi: g.Size}, 40)
	var kept [7]int
	rim := 0
	for i, m := range mask {
		if m != 0 {
			kept[kind[i]]++
			if kind[i] == 5 {
				x, y, z := i%g.Size[0], (i/g.Size[0])%g.Size[1], i/(g.Size[0]*g.Size[1])
				if kind[g.Index(x, y-1, z)] == 1 || kind[g.Index(x-1, y, z)] == 1 || kind[g.Index(x+1, y, z)] == 1 {
					rim++
				}
			}
		}
	}
	t.Logf("kept/before: liver %d/%d, vessel %d/%d, tumor %d/%d, kidney %d/%d, hilar %d/%d, calcification %d/%d",
		kept[1], before[1], kept[2], before[2], kept[3], before[3], kept[4], before[4], kept[5], before[5], kept[6], before[6])
	// (parenchyma voxels touching the kidney or the hilar vessel may go by
	// the same partial volume: at most a few)
	for _, c := range []struct {
		name     string
		k        int
		min, max int
	}{{"parenchyma", 1, before[1] - 5, before[1]}, {"enclosed vessel", 2, before[2], before[2]}, {"hyperdense tumor", 3, before[3], before[3]},
		{"kidney", 4, 0, 0}, {"hilar vessel beyond its contact rim", 5, 0, rim}, {"calcification", 6, before[6], before[6]}} {
		if kept[c.k] < c.min || kept[c.k] > c.max {
			t.Errorf("%s: %d voxels kept, want %d..%d", c.name, kept[c.k], c.min, c.max)
		}
	}
}

// TestTrimFat checks the fat trim on a liver ellipsoid (100 HU) cut by a
// fat-filled fissure (-100 HU, 3 voxels wide) and holding a cyst (5 HU):
// the fissure leaves the mask and is not refilled (but where its end meets
// parenchyma, whose voxels outnumber fat in the 3×3 window), the cyst
// (water, not fat) stays, and so does the parenchyma but for corner voxels
// whose window is mostly the fat around the liver.
func TestTrimFat(t *testing.T) {
	g := volume.Geometry{Size: [3]int{50, 50, 24}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v, err := volume.NewVolume(g, -100)
	if err != nil {
		t.Fatal(err)
	}
	kind := make([]uint8, g.Len()) // 0 outside, 1 liver, 2 fissure, 3 cyst
	mask := make([]uint8, g.Len())
	var before [4]int
	for z := 0; z < g.Size[2]; z++ {
		for y := 0; y < g.Size[1]; y++ {
			for x := 0; x < g.Size[0]; x++ {
				i := g.Index(x, y, z)
				if !inEllipsoid(x, y, z, [3]float64{25, 25, 12}, [3]float64{20, 20, 10}) {
					continue
				}
				switch {
				case x >= 24 && x <= 26 && y < 25:
					kind[i], v.HU[i] = 2, -100
				case inEllipsoid(x, y, z, [3]float64{15, 32, 12}, [3]float64{4, 4, 4}):
					kind[i], v.HU[i] = 3, 5
				default:
					kind[i], v.HU[i] = 1, 100
				}
				mask[i] = 1
				before[kind[i]]++
			}
		}
	}
	trimFat(v, mask, box{hi: g.Size}, -30)
	var kept [4]int
	for i, m := range mask {
		if m != 0 {
			kept[kind[i]]++
		}
	}
	t.Logf("kept/before: liver %d/%d, fissure %d/%d, cyst %d/%d", kept[1], before[1], kept[2], before[2], kept[3], before[3])
	if kept[2] > before[2]/20 {
		t.Errorf("fissure: %d of %d fat voxels kept, want at most 5 %%", kept[2], before[2])
	}
	if kept[3] != before[3] {
		t.Errorf("cyst: %d of %d voxels kept, want all", kept[3], before[3])
	}
	if kept[1] < before[1]*99/100 {
		t.Errorf("parenchyma: %d of %d voxels kept, want at least 99 %%", kept[1], before[1])
	}
}
