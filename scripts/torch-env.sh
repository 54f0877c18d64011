#!/usr/bin/env bash
# The one set-up script of the `neural` feature (tch 0.24 ⇔ PyTorch 2.11.0, exactly).
#
#   scripts/torch-env.sh cargo test --features neural --test neural
#   scripts/torch-env.sh cargo run --release --features neural -- neural crossval
#
# Creates `.venv` at the repository root if it is missing (python3 -m venv; pip install
# torch==2.11.0: PyPI's default Linux wheel, ~4.6 GB with its CUDA libraries, which are loaded
# only when a GPU is used; the toolkit's tests run on CPU), then builds/runs with tch's torch-sys pointed at the
# venv's PyTorch (LIBTORCH_USE_PYTORCH=1, the venv's python3 first on PATH) and the venv's
# torch/lib on LD_LIBRARY_PATH for the run-time loader, and execs its arguments.
# Override the location with AIHF_VENV=/path/to/venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${AIHF_VENV:-$root/.venv}"
torch_version="2.11.0"

# Checked through the package metadata: importing torch itself takes seconds.
installed() {
    "$venv/bin/python3" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('torch').split('+')[0] == '$torch_version' else 1)" 2>/dev/null
}
if ! installed; then
    # The venv takes ~4.6 GB; pip's download cache would take ~3 GB more, so it is off
    # (--no-cache-dir), and a disk too small for the venv is said before pip fails on it.
    mkdir -p "$(dirname "$venv")"
    need_kb=$((6 * 1024 * 1024))
    free_kb="$(df -Pk "$(dirname "$venv")" | awk 'NR == 2 { print $4 }')"
    echo "torch-env: installing torch==$torch_version into $venv (one-off, ~4.6 GB; $((free_kb / 1024 / 1024)) GB free)" >&2
    if [ "${free_kb:-0}" -lt "$need_kb" ]; then
        echo "torch-env: warning: under 6 GB free on $(dirname "$venv"); the install may fail (set AIHF_VENV to a larger disk)" >&2
    fi
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --no-cache-dir --upgrade pip >&2
    "$venv/bin/python3" -m pip install --quiet --no-cache-dir "torch==$torch_version" >&2
fi

torch_lib="$("$venv/bin/python3" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("torch").submodule_search_locations[0], "lib"))')"
export PATH="$venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# torch-sys links against this libtorch at build time; the loader needs the same directory.
if [ "$#" -eq 0 ]; then
    echo "torch-env: venv=$venv torch_lib=$torch_lib (give a command to run it in this environment)" >&2
    exit 0
fi
exec "$@"
