#!/usr/bin/env bash
# The README's main job: install, then run the whole story (`edgesnn demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
edgesnn demo "$@"
