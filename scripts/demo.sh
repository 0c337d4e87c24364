#!/bin/sh
# demo.sh - the main job on real data. At this stage: inspect the bundled CT
# series; later stages grow this into the full PACS demo.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
cd "$root"
./bin/node inspect .testdata/ircadb/3Dircadb1.1/PATIENT_DICOM
./bin/node inspect .testdata/ct/crlm-ct-1004
