//go:build purego

package nn

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemmImpl is the BLAS used by every kernel of this build: gonum, pure Go.
func sgemmImpl() blas.Float32 { return gonum.Implementation{} }

// BLASKernel names the BLAS in use, for benchmark output and logs.
func BLASKernel() string { return "gonum (pure Go)" }
