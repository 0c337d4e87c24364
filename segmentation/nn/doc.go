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
// implementation. BLASKernel names the one in use. This package splits work
// across goroutines itself (GOMAXPROCS of them), so it switches OpenBLAS to a
// single thread whatever OPENBLAS_NUM_THREADS says. OPENBLAS_CORETYPE still
// matters: the machine environment presets Haswell (AVX2) kernels, about half
// the single-thread speed of the autodetected AVX-512 ones on this CPU.
package nn
