#!/usr/bin/env bash
# Install everything edgesnn's main job and tests need on a fresh Debian 12 machine.
# Python: torch 2.13.0 (CPU build) first, so that no other torch is pulled in, then the package
# with all extras. Debian: cross compilers and QEMU for the firmware stages, when apt works;
# without them the firmware stages fall back to the host board and say so.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python3 -m pip install --quiet --disable-pip-version-check -e '.[all]'
# tonic (extra `events`) without its declared librosa dependency; what it imports came with [events]
python3 -m pip install --quiet --disable-pip-version-check --no-deps "tonic==1.7.0"
# Sinabs, only to test that its NIR exports import (tests/test_conv.py): --no-deps, because its
# declared dependencies pin nir<=1.0.4 and pull samna (never install samna: facts.md); it imports
# with pbr and what torch/nirtorch already bring
python3 -m pip install --quiet --disable-pip-version-check --no-deps "sinabs==3.1.3" "pbr"
# Lava (the loihi2 kit's reference) in its own Python 3.10 environment; without it the loihi2
# check fails naming what is missing
bash tools/install_kits.sh || echo "install.sh: Lava was not installed; the loihi2 check cannot run" >&2
if [ "${EDGESNN_SKIP_APT:-0}" != "1" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  pkgs="gcc-arm-none-eabi qemu-system-arm gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc clang-14 libclang-rt-14-dev clang-format-14 gcc-avr avr-libc arduino-core-avr openocd libnewlib-arm-none-eabi chromium chromium-driver espeak-ng"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -qq --no-install-recommends -y $missing >/dev/null) \
      || echo "install.sh: could not install$missing; firmware stages will use the host board" >&2
  fi
fi
