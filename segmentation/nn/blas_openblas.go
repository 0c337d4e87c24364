//go:build !purego

package nn

/*
#cgo LDFLAGS: -lopenblas
char* openblas_get_corename(void);
int openblas_get_num_threads(void);
*/
import "C"

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

// sgemmImpl is the BLAS used by every kernel of this build: OpenBLAS via cgo.
func sgemmImpl() blas.Float32 { return netlib.Implementation{} }

// BLASKernel names the BLAS in use, its CPU kernel and its thread count, for
// benchmark output and logs, e.g. "OpenBLAS (Cooperlake, 1 thread(s))".
func BLASKernel() string {
	return fmt.Sprintf("OpenBLAS (%s, %d thread(s))", C.GoString(C.openblas_get_corename()), int(C.openblas_get_num_threads()))
}
