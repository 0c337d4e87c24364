// Package segmentation is MHP-Net as the node builds it: a two-stage,
// patch-trained fully convolutional 3D network pipeline that finds the
// liver and the liver tumors in a CT volume.
//
// Stage 1 (liver) resamples the CT to a coarse grid (3 mm by default) by box
// averaging, builds five channels (windowed CT, the CT smoothed at 6 and
// 15 mm for context, and the left-right and anterior-posterior position
// relative to each slice's body outline), predicts liver ∪ tumors with a
// small network, and keeps one anatomically plausible component: opening
// against thin bridges to adjacent organs, the largest component on the
// patient's right or midline, holes filled in 3D and per slice. The
// probability is upsampled trilinearly to the CT grid.
//
// Stage 2 (tumor) works on a 2 mm grid over the liver's bounding box plus a
// margin: the CT windowed relative to the case's own liver parenchyma
// median (contrast phases differ between scanners and patients), with the
// voxels outside the liver read as parenchyma, and the multi-scale Hessian
// blob response (segmentation/hessian) divided by a normaliser fixed at
// training time. Components under a minimum volume or without contrast
// against the surrounding parenchyma are dropped, the rest upsampled and
// kept inside the liver.
//
// Gates flag (never hide) implausible liver volumes, a liver not on the
// right, and an implausible tumor burden. A Model is loaded from a
// versioned model file (LoadModel, DecodeModel) or embedded in the binary
// (DefaultModel); Train fits both stages; Evaluate compares a segmentation
// with ground truth stage by stage.
//
// The package sees volume.Volume and returns volume.LabelVolume plus
// measurements: it knows nothing of DICOM. It does not log.
package segmentation
