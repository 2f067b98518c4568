# Sourced by scripts/demo and scripts/test: finds Python 3.12+, makes .venv, installs the
# pinned dependencies (only when pyproject.toml or the constraints changed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
CONSTRAINTS="$ROOT/requirements/constraints.txt"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

is_python_312() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local candidate pyenv_root
  # An explicit choice wins, then whatever is on PATH, then pyenv's installed versions
  # (a pyenv shim on PATH fails unless its version is active, so those are tried directly).
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3 python; do
    [ -n "$candidate" ] || continue
    candidate=$(command -v "$candidate" 2>/dev/null) || continue
    if is_python_312 "$candidate"; then echo "$candidate"; return 0; fi
  done
  pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  for candidate in $(ls -d "$pyenv_root"/versions/3.* 2>/dev/null | sort -rV); do
    if [ -x "$candidate/bin/python3" ] && is_python_312 "$candidate/bin/python3"; then
      echo "$candidate/bin/python3"; return 0
    fi
  done
  return 1
}

# ensure_venv EXTRA: EXTRA is "" for the portal alone or "dev" for the tests and tooling.
ensure_venv() {
  local extra=${1:-} spec stamp wanted python
  if [ -x "$VENV/bin/python" ] && ! is_python_312 "$VENV/bin/python"; then
    say "Removing .venv: it was made with Python older than 3.12"
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    python=$(find_python) || die "Python 3.12 or newer is needed (Django 6.1). Install it, or set PYTHON=/path/to/python3.12."
    say "Creating .venv with $("$python" --version) ($python)"
    "$python" -m venv "$VENV" || die "could not create a virtual environment with $python"
  fi
  spec="."
  [ -n "$extra" ] && spec=".[$extra]"
  stamp="$VENV/.installed${extra:+-$extra}"
  wanted=$(cat "$ROOT/pyproject.toml" "$CONSTRAINTS" | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
  # The dev install includes everything the portal alone needs.
  if [ -z "$extra" ] && [ "$(cat "$VENV/.installed-dev" 2>/dev/null)" = "$wanted" ]; then
    return 0
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    say "Installing dependencies ($spec, pinned by requirements/constraints.txt)"
    (cd "$ROOT" && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      --constraint "$CONSTRAINTS" --editable "$spec") || die "dependency installation failed (see above)"
    echo "$wanted" >"$stamp"
  fi
}
