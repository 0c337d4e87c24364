//go:build !purego

package nn

/*
#cgo LDFLAGS: -lopenblas
char* openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
*/
import "C"

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

// sgemmImpl is the BLAS used by every kernel of this build: OpenBLAS via cgo.
//
// The engine splits every convolution into chunks on its own goroutines, one
// per core, and each chunk calls SGEMM; OpenBLAS threads on top of that
// oversubscribe the cores (measured here on the phantom training: 46 s CPU,
// 16 s of it in the kernel, with OpenBLAS's default 2 threads against 17 s
// with 1). So OpenBLAS is switched to one thread, whatever
// OPENBLAS_NUM_THREADS says. This is process-wide; nothing else in the node
// calls OpenBLAS.
func sgemmImpl() blas.Float32 {
	if C.openblas_get_num_threads() != 1 {
		C.openblas_set_num_threads(1)
	}
	return netlib.Implementation{}
}

// BLASKernel names the BLAS in use, its CPU kernel and its thread count, for
// benchmark output and logs, e.g. "OpenBLAS (Cooperlake, 1 thread(s))".
func BLASKernel() string {
	return fmt.Sprintf("OpenBLAS (%s, %d thread(s))", C.GoString(C.openblas_get_corename()), int(C.openblas_get_num_threads()))
}
