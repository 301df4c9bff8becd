# Sourced by ./run-tests and ./run-lecture: where their venvs live, and how they find Pythons.
#
# Everything they create lives outside the clone, under $REPRODUCE_HOME
# (default ~/.cache/reproduce-lecture22), so a second run, or a second clone on the same
# machine, reuses it:
#   tools-venv/    tox itself               tox/       tox's envs (tox.ini's work_dir)
#   lecture-venv/  ./run-lecture's venv     pip-cache/ pip's downloads (unless PIP_CACHE_DIR)
#   bin/           links to pyenv's python3.X where the name alone does not run one
#   virtualenv/    virtualenv's seed wheels (unless VIRTUALENV_OVERRIDE_APP_DATA)

REPRODUCE_HOME="${REPRODUCE_HOME:-$HOME/.cache/reproduce-lecture22}"
export REPRODUCE_HOME
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$REPRODUCE_HOME/pip-cache}"
export VIRTUALENV_OVERRIDE_APP_DATA="${VIRTUALENV_OVERRIDE_APP_DATA:-$REPRODUCE_HOME/virtualenv}"
mkdir -p "$REPRODUCE_HOME"

# runs PYTHON: true if PYTHON starts (a pyenv shim for a version not selected does not).
runs() { "$1" -c "" >/dev/null 2>&1; }

# find_pythons 3.10 3.11 ...: make each python3.X on PATH run, linking pyenv's newest 3.X.*
# into $REPRODUCE_HOME/bin where the plain name does not (pyenv's shims only run the
# selected versions). Names that neither provides are left for tox to report.
find_pythons() {
  local bin="$REPRODUCE_HOME/bin" pyenv_root="${PYENV_ROOT:-}" v found
  if [ -z "$pyenv_root" ] && command -v pyenv >/dev/null 2>&1; then
    pyenv_root=$(pyenv root)
  fi
  pyenv_root="${pyenv_root:-$HOME/.pyenv}"
  mkdir -p "$bin"
  for v in "$@"; do
    rm -f "$bin/python$v"
    runs "python$v" && continue
    found=$(printf '%s\n' "$pyenv_root"/versions/"$v".*/bin/python"$v" | sort -V | tail -n 1)
    if [ -x "$found" ]; then ln -s "$found" "$bin/python$v"; fi
  done
  PATH="$bin:$PATH"
  export PATH
}

# ensure_venv DIR PYTHON: a working venv at DIR, made with PYTHON if absent or broken.
ensure_venv() {
  if ! runs "$1/bin/python"; then
    rm -rf "$1"
    "$2" -m venv "$1"
  fi
}

# lock_home: hold $REPRODUCE_HOME/lock until this process (and what it execs) exits, so two
# runs on one machine never install into the same venv at once.
lock_home() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$REPRODUCE_HOME/lock"
  if ! flock -n 9; then
    echo "waiting for another run using $REPRODUCE_HOME to finish..." >&2
    flock 9
  fi
}

# ensure_lecture_venv ROOT: the venv with this clone installed (editable), made or refreshed only
# when the clone or its pyproject.toml changed since the last install; prints its path.
ensure_lecture_venv() {
  local root="$1" python=python3 venv="$REPRODUCE_HOME/lecture-venv" stamp want
  # Python 3.11 where there is one: pip takes torch from this machine's disk for it.
  find_pythons 3.11
  if runs python3.11; then python=python3.11; fi
  ensure_venv "$venv" "$python" >&2
  stamp="$venv/.installed-from"
  want="$root $(cksum < "$root/pyproject.toml")"
  if [ ! -x "$venv/bin/reproduce" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet -e "$root" >&2
    echo "$want" > "$stamp"
  fi
  echo "$venv"
}

# ensure_data ROOT: the datasets verified where the tests will look ($REPRODUCE_DATA_DIR, else the
# per-user cache); missing files are fetched (torchvision's download, then SHA-256), which needs
# network. Offline, the tests that need the data skip, saying how to provide it.
ensure_data() {
  local dir="${REPRODUCE_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reproduce-lecture22/data}"
  if [ -f "$dir/MNIST/raw/train-images-idx3-ubyte" ] \
    && [ -f "$dir/FashionMNIST/raw/train-images-idx3-ubyte" ]; then
    return 0  # present; the tests verify every checksum themselves
  fi
  "$(ensure_lecture_venv "$1")/bin/reproduce" data --download \
    || echo "data not fetched; the tests that need it will skip, saying how to provide it" >&2
}
