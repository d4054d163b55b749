#!/usr/bin/env bash
# Vendor simulators for the neuromorphic kits that cannot live beside edgesnn: Lava (lava-nc 0.10
# needs Python 3.10 and numpy < 2) goes into its own virtual environment, where
# edgesnn.kits.loihi2 finds it (or set EDGESNN_LAVA_PYTHON to another interpreter that has it).
# The in-process kits come with pip extras: xylo (rockpool + xylosim), in [all].
set -euo pipefail
venv="${EDGESNN_LAVA_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/edgesnn/lava-venv}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import lava.proc.lif.process" 2>/dev/null; then
  exit 0
fi
py=""
cands="python3.10"
if command -v pyenv >/dev/null 2>&1; then
  for d in "$(pyenv root)"/versions/3.10*/bin/python3.10; do cands="$d $cands"; done
fi
for cand in $cands; do
  # a pyenv shim exists without the version being active: ask the interpreter itself
  if "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then py="$cand"; break; fi
done
if [ -z "$py" ]; then
  echo "install_kits.sh: no Python 3.10 found (lava-nc 0.10 needs it); the loihi2 check will name what is missing" >&2
  exit 1
fi
mkdir -p "$(dirname "$venv")"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "lava-nc==0.10.0"
"$venv/bin/python" -c "import lava.proc.lif.process" && echo "install_kits.sh: Lava in $venv"
