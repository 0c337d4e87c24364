#!/bin/sh
# evaluate.sh - the figures of the README, reproducible: both directions of
# the IRCAD cross-over protocol (README-ct.md: train on one patient, evaluate
# on the other, never on the training patient), the Hessian ablation, the
# embedded model (trained on both patients) retrained from scratch and its
# fit, CRLM-CT-1004's plausibility, and the speed benchmark. Long (training
# takes minutes): not part of `make test`.
#
#   scripts/evaluate.sh [OUT_DIR]     (default out/evaluate)
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
cd "$root"
out=${1:-out/evaluate}
mkdir -p "$out"
go build -o bin/node ./cmd/node
d=.testdata/ircadb

echo "== 1. Cross-over A: train on IRCAD 1.1 (7 tumors), evaluate on the unseen IRCAD 1.17"
bin/node train --data "$d/3Dircadb1.1" --out "$out/model-1.1.mhp" --seed 1
bin/node eval --model "$out/model-1.1.mhp" --data "$d/3Dircadb1.17" --report "$out/1.1-on-1.17"

echo "== 2. Cross-over B: train on IRCAD 1.17 (2 tumors), evaluate on the unseen IRCAD 1.1"
bin/node train --data "$d/3Dircadb1.17" --out "$out/model-1.17.mhp" --seed 1
bin/node eval --model "$out/model-1.17.mhp" --data "$d/3Dircadb1.1" --report "$out/1.17-on-1.1"

echo "== 3. Hessian ablation (direction A): the same liver stage, a tumor stage trained without the Hessian channel"
bin/node train --data "$d/3Dircadb1.1" --liver-from "$out/model-1.1.mhp" --no-hessian --out "$out/model-1.1-nohessian.mhp" --seed 1
bin/node eval --model "$out/model-1.1.mhp" --model "$out/model-1.1-nohessian.mhp" --data "$d/3Dircadb1.17"

echo "== 4. The embedded model: trained on both patients (9 tumors); retrained here, then its fit on them"
bin/node train --data "$d/3Dircadb1.1" --data "$d/3Dircadb1.17" --out "$out/model-both.mhp" --seed 1
# training is deterministic: the retrained model's figures equal the embedded model's
bin/node eval --model segmentation/models/default.mhp --model "$out/model-both.mhp" --data "$d/3Dircadb1.1" --data "$d/3Dircadb1.17"

echo "== 5. CRLM-CT-1004 (another scanner, 5 mm slices, no ground truth): plausibility, embedded model"
bin/node segment --in .testdata/ct/crlm-ct-1004 --out "$out/crlm-ct-1004-seg.dcm" --overlay "$out/crlm-ct-1004-overlays"

echo "== 6. Speed and memory of one study (IRCAD 1.17, 512x512x119), embedded model"
go test ./cmd/node -run '^$' -bench BenchmarkSegmentStudy -benchtime 3x
