// Package nn is the small fully convolutional 3D CNN toolkit under MHP-Net:
// a VALID 3D convolution (vol2col + SGEMM) as a gorgonia op with its own
// backward pass, a network of 3×3×3 convolutions with ReLU and a 1×1×1 head,
// a graph-free parallel Predict for tiled inference, and a Trainer that runs
// forward, Dice + cross-entropy loss, backward and Adam on gorgonia's
// TapeMachine.
//
// Place in the flow: segmentation/train and segmentation/infer build patches
// and tiles from volume.Volume data; this package only sees float32 arrays in
// channel-first layout [C][Z][Y][X] (x fastest; batches [N][C][Z][Y][X]) and
// knows nothing of DICOM or geometry.
//
// Convolutions are VALID (no padding): each layer shrinks every axis by
// (Kernel−1)·Dilation, so a network loses Arch.ReceptiveRadius voxels per
// side, and tiles read with that margin give seamless output.
//
// BLAS: the default build calls OpenBLAS through cgo
// (gonum.org/v1/netlib); the build tag purego selects gonum's pure-Go
// implementation. BLASKernel names the one in use. OpenBLAS reads
// OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE at start-up; this package splits
// work across goroutines itself, so OPENBLAS_NUM_THREADS=1 is the setting it
// is tuned for (see the README of segmentation for measured figures).
package nn
