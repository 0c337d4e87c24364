//go:build tools

// Package deps pins modules that the project is about to use, so that go.mod
// keeps them while the packages that import them are being written. Remove an
// import here once a real package imports it.
package deps

import (
	_ "github.com/chewxy/hm"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/uuid"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/suyashkumar/dicom"
	_ "go.uber.org/zap"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "gonum.org/v1/gonum/blas"
	_ "gonum.org/v1/netlib/blas/netlib"
	_ "gopkg.in/yaml.v3"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
