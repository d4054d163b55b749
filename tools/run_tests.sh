#!/usr/bin/env bash
# The README's test command: install what the tests need, then run them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
bash tools/check_style.sh
python3 -m pytest tests "$@"
