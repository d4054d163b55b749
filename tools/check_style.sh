#!/usr/bin/env bash
# The habits that keep the codebase healthy, all configured in the project's files:
# ruff (lint and format, pyproject.toml), mypy (pyproject.toml; the public API strictly),
# clang-format (.clang-format) on the hand-written C, the documentation site built strictly.
# (-Wall -Wextra -Werror -Wconversion on the C runtime is enforced by every firmware build.)
set -euo pipefail
cd "$(dirname "$0")/.."
py="sdk tests tools examples"
python3 -m ruff check $py
python3 -m ruff format --check $py
python3 -m mypy
cfmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cfmt" ]; then
  echo "check_style.sh: clang-format-14 is missing (apt-get install clang-format-14)" >&2
  exit 1
fi
"$cfmt" --dry-run -Werror $(git ls-files 'firmware_templates/*.c' 'firmware_templates/*.h' 'tests/c/*.[ch]' \
  'tools/fuzz/*.c' 'examples/*.c' 'examples/**/*.c')
NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet --site-dir "${TMPDIR:-/tmp}/edgesnn-site"
echo "style: ruff, ruff format, mypy, clang-format and mkdocs --strict all pass"
