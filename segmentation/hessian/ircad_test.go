package hessian

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mhpnet/node/internal/testdata"
	"github.com/mhpnet/node/volume"
)

// ircadScript reads an IRCAD case with pydicom (an independent reader, so
// this package needs no DICOM code): CT in HU as int16, the liver mask and
// the union of the tumor masks as uint8, slices in ascending position.
const ircadScript = `
import sys, os, json, glob, numpy as np, pydicom
case, out = sys.argv[1], sys.argv[2]
files = glob.glob(os.path.join(case, 'PATIENT_DICOM', 'image_*'))
ds = [(pydicom.dcmread(f), os.path.basename(f)) for f in files]
ds.sort(key=lambda d: float(d[0].ImagePositionPatient[2]))
ct = np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d, _ in ds])
names = [n for _, n in ds]
def mask(folder):
    return np.stack([pydicom.dcmread(os.path.join(folder, n)).pixel_array > 0 for n in names])
liver = mask(os.path.join(case, 'MASKS_DICOM', 'liver'))
tumor = np.zeros_like(liver)
for f in sorted(glob.glob(os.path.join(case, 'MASKS_DICOM', 'livertumor*'))):
    tumor |= mask(f)
np.round(ct).astype('<i2').tofile(os.path.join(out, 'ct.raw'))
liver.astype(np.uint8).tofile(os.path.join(out, 'liver.raw'))
tumor.astype(np.uint8).tofile(os.path.join(out, 'tumor.raw'))
d0 = ds[0][0]
p = [float(v) for v in d0.PixelSpacing]
dz = float(ds[1][0].ImagePositionPatient[2]) - float(ds[0][0].ImagePositionPatient[2])
json.dump({'size': [int(d0.Columns), int(d0.Rows), len(ds)], 'spacing': [p[1], p[0], dz],
           'origin': [float(v) for v in d0.ImagePositionPatient]}, open(os.path.join(out, 'meta.json'), 'w'))
`

type ircadCase struct {
	ct            *volume.Volume
	liver, tumors *volume.LabelVolume
}

func loadIRCAD(tb testing.TB, rel string) ircadCase {
	tb.Helper()
	dir := testdata.CT(tb, rel)
	out := tb.TempDir()
	if b, err := exec.Command("/usr/bin/python3", "-c", ircadScript, dir, out).CombinedOutput(); err != nil {
		tb.Fatalf("pydicom read of %s: %v\n%s", rel, err, b)
	}
	var meta struct {
		Size    [3]int
		Spacing [3]float64
		Origin  [3]float64
	}
	mb, err := os.ReadFile(filepath.Join(out, "meta.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(mb, &meta); err != nil {
		tb.Fatal(err)
	}
	g := volume.Geometry{Size: meta.Size, Spacing: meta.Spacing, Origin: meta.Origin,
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	ct, err := volume.NewVolume(g, 0)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "ct.raw"))
	if err != nil || len(raw) != 2*g.Len() {
		tb.Fatalf("ct.raw: %d bytes, %v", len(raw), err)
	}
	for i := range ct.HU {
		ct.HU[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	read := func(name string) *volume.LabelVolume {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || len(b) != g.Len() {
			tb.Fatalf("%s: %d bytes, %v", name, len(b), err)
		}
		return &volume.LabelVolume{Geometry: g, Labels: b}
	}
	return ircadCase{ct: ct, liver: read("liver.raw"), tumors: read("tumor.raw")}
}

// TestIRCADTumorsStandOut runs the default enhancer on IRCAD 1.1 (7
// tumors, one brighter than the parenchyma) resampled to the tumor stage's
// 2 mm grid, inside the liver's box plus 10 mm, and checks that the tumors
// stand out of the parenchyma in the dark response: the strongest dark
// response inside most tumors exceeds the 99th percentile of the dark
// response in tumor-free liver.
func TestIRCADTumorsStandOut(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a real CT")
	}
	c := loadIRCAD(t, "ircadb/3Dircadb1.1")
	sp := [3]float64{2, 2, 2}
	ct, err := c.ct.Resample(sp)
	if err != nil {
		t.Fatal(err)
	}
	liverAll, err := c.liver.Resample(sp)
	if err != nil {
		t.Fatal(err)
	}
	tumorAll, err := c.tumors.Resample(sp)
	if err != nil {
		t.Fatal(err)
	}
	bb, ok := liverAll.BoundingBox()
	if !ok {
		t.Fatal("empty liver mask")
	}
	box := bb.ExpandMM(ct.Geometry, 10)
	res, err := EnhanceFloat32(context.Background(), ct, Options{Box: box})
	if err != nil {
		t.Fatal(err)
	}
	liver, _ := liverAll.Crop(box)
	tumors, _ := tumorAll.Crop(box)
	comps, err := volume.LabelComponents(tumors, volume.Conn6)
	if err != nil {
		t.Fatal(err)
	}
	type stats struct {
		paren []float64
		peak  []float32
	}
	var dark, bright stats
	dark.peak = make([]float32, len(comps.Components))
	bright.peak = make([]float32, len(comps.Components))
	for i := range res.Response.Data {
		d, b := res.Dark.Data[i], res.Bright.Data[i]
		if k := comps.Labels[i]; k != 0 {
			dark.peak[k-1] = max(dark.peak[k-1], d)
			bright.peak[k-1] = max(bright.peak[k-1], b)
		} else if liver.Labels[i] != 0 {
			dark.paren = append(dark.paren, float64(d))
			bright.paren = append(bright.paren, float64(b))
		}
	}
	p99 := func(v []float64) float64 {
		sort.Float64s(v)
		return v[len(v)*99/100]
	}
	dp, bp := p99(dark.paren), p99(bright.paren)
	stand := 0
	for k := range dark.peak {
		ml := float64(comps.Components[k].Voxels) * ct.VoxelVolumeML()
		t.Logf("tumor component %d: %.2f mL, peak dark %.2f HU, peak bright %.2f HU", k+1, ml, dark.peak[k], bright.peak[k])
		if float64(dark.peak[k]) > dp {
			stand++
		}
	}
	t.Logf("box %v (%d voxels at 2 mm); tumor-free liver: dark 99th percentile %.3f HU, bright 99th percentile %.3f HU; %d of %d tumors above the dark one",
		box, box.Len(), dp, bp, stand, len(dark.peak))
	if len(dark.peak) < 5 || stand < len(dark.peak)*2/3 {
		t.Fatalf("only %d of %d tumor components exceed the parenchyma's dark 99th percentile %.3f HU", stand, len(dark.peak), dp)
	}
}

// BenchmarkEnhanceIRCAD runs the default enhancer on IRCAD 1.1's liver box
// plus 10 mm at its native 0.57×0.57×1.6 mm grid.
func BenchmarkEnhanceIRCAD(b *testing.B) {
	c := loadIRCAD(b, "ircadb/3Dircadb1.1")
	bb, ok := c.liver.BoundingBox()
	if !ok {
		b.Fatal("empty liver mask")
	}
	box := bb.ExpandMM(c.ct.Geometry, 10)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := Enhance(context.Background(), c.ct, Options{Box: box}); err != nil {
			b.Fatal(err)
		}
	}
	reportSpeed(b, box.Len(), cpu0)
}
