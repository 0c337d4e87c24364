#!/bin/sh
# evaluate.sh - the figures of the README, reproducible: both directions of
# the IRCAD protocol (README-ct.md), the Hessian ablation, CRLM-CT-1004's
# plausibility, and the speed benchmark. Long (training takes minutes):
# not part of `make test`.
#
#   scripts/evaluate.sh [OUT_DIR]     (default out/evaluate)
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
cd "$root"
out=${1:-out/evaluate}
mkdir -p "$out"
go build -o bin/node ./cmd/node
d=.testdata/ircadb

echo "== 1. Embedded model (trained on IRCAD 1.1 only), evaluated on the unseen IRCAD 1.17"
bin/node eval --data "$d/3Dircadb1.17" --report "$out/embedded-on-1.17"

echo "== 2. Reverse direction: train on IRCAD 1.17, evaluate on the unseen IRCAD 1.1"
bin/node train --data "$d/3Dircadb1.17" --out "$out/model-1.17.mhp" --seed 1
bin/node eval --model "$out/model-1.17.mhp" --data "$d/3Dircadb1.1" --report "$out/1.17-on-1.1"

echo "== 3. Hessian ablation: the embedded liver stage, a tumor stage trained without the Hessian channel"
bin/node train --data "$d/3Dircadb1.1" --liver-from segmentation/models/default.mhp --no-hessian --out "$out/nohessian.mhp" --seed 1
bin/node eval --model segmentation/models/default.mhp --model "$out/nohessian.mhp" --data "$d/3Dircadb1.17"

echo "== 4. CRLM-CT-1004 (another scanner, 5 mm slices, no ground truth): plausibility"
bin/node segment --in .testdata/ct/crlm-ct-1004 --out "$out/crlm-ct-1004-seg.dcm"

echo "== 5. Speed and memory of one study (IRCAD 1.17, 512x512x119)"
go test ./cmd/node -run '^$' -bench BenchmarkSegmentStudy -benchtime 3x
