#!/usr/bin/env bash
# One entry point for a fresh Debian machine: installs what is missing, then runs.
#   ./run.sh demo          set up, then run `records demo` on the embedded default
#   ./run.sh test [ARGS]   set up, then run the whole test suite (ARGS go to pytest)
#   ./run.sh setup         only set up (system packages, Python environment from uv.lock)
#   ./run.sh records ARGS  set up, then run any `records` command
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION=0.13.9
export UV_PYTHON_DOWNLOADS=never        # use the machine's Python 3.11+, never download one
export UV_LINK_MODE=copy
export UV_SYSTEM_CERTS=1                # trust the machine's certificate store (proxies with their own CA)
export DO_NOT_TRACK=1
export OMP_THREAD_LIMIT=1                # Tesseract: one thread per process (prefect-notes.md)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_packages() {
  local missing=()
  # The browser tests drive Debian's chromium (never a downloaded browser): test path only.
  if [ "${RECORDS_WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
  fi
  command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr tesseract-ocr-eng)
  if command -v tesseract >/dev/null 2>&1 && ! tesseract --list-langs 2>/dev/null | grep -qx eng; then
    missing+=(tesseract-ocr-eng)
  fi
  /sbin/ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || missing+=(libmagic1)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing system packages: ${missing[*]}" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

find_uv() {
  if [ -x .tools/bin/uv ]; then echo .tools/bin/uv; return; fi
  if command -v uv >/dev/null 2>&1 && [ "$(uv --version | awk '{print $2}')" = "$UV_VERSION" ]; then
    command -v uv; return
  fi
  echo "run.sh: installing uv $UV_VERSION into .tools/" >&2
  python3 -m venv .tools >/dev/null
  .tools/bin/pip install -q --disable-pip-version-check "uv==$UV_VERSION" >&2
  echo .tools/bin/uv
}

setup() {
  install_system_packages
  local uv
  uv=$(find_uv)
  # Bytecode compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as in these
  # agents' shells) every process otherwise recompiles numpy, Prefect and SQLAlchemy on
  # import, 3-4 s of CPU per process and per extraction worker.
  "$uv" sync --frozen --quiet --compile-bytecode
}

command=${1:-demo}
[ $# -gt 0 ] && shift
case "$command" in
  setup)
    setup ;;
  demo)
    setup
    exec .venv/bin/records demo "$@" ;;
  test)
    RECORDS_WITH_BROWSER=1 setup
    exec .venv/bin/python -m pytest -n 2 --dist loadscope "$@" ;;  # a module on one worker: module fixtures start once
  records)
    setup
    exec .venv/bin/records "$@" ;;
  *)
    echo "usage: ./run.sh demo | test [PYTEST ARGS] | setup | records ARGS" >&2
    exit 2 ;;
esac
