# The two commands of the README:
#   make demo   set up what is missing, then run the main job on real data
#   make test   set up what is missing, then run every test
SHELL := /bin/sh
GO ?= go
export OPENBLAS_NUM_THREADS ?= 2
export SHARED_DIR ?= $(abspath ../shared)
export MHPNET_TESTDATA ?= $(abspath .testdata)

.PHONY: setup build demo test test-short vet fmt bench

setup:
	scripts/setup.sh

build:
	$(GO) build -o bin/node ./cmd/node

demo: setup build
	scripts/demo.sh

test: setup
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test -timeout 40m ./...

test-short:
	$(GO) test -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
