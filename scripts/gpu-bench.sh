#!/usr/bin/env bash
# Speed of one SFT, DPO and AIHF training step (`aihf neural bench`) on GPT-2 small, bf16, CUDA.
# Two modes:
#
#   scripts/gpu-bench.sh build
#       Here (Rust, the project's venv): builds target/release/aihf with the `neural` feature
#       through scripts/torch-env.sh. The binary links the venv's libtorch (PyTorch 2.11.0, PyPI's
#       default Linux wheel, which carries the CUDA libraries); copy it to the GPU machine.
#
#   scripts/gpu-bench.sh run [extra `aihf neural bench` flags...]
#       On a CUDA machine with PyTorch 2.11.0 (+cu130) installed system-wide and no Rust:
#       - finds torch's lib dir through `python3 -c 'import torch ...'` and puts it first on
#         LD_LIBRARY_PATH (the binary needs the same libtorch version it was built against);
#         (the crate's build.rs links libtorch.so itself with --no-as-needed, tch-rs issue #980,
#         so libtorch_cuda is loaded and CUDA is available);
#       - reads the GPU name from nvidia-smi and picks the peak dense bf16 TFLOP/s for MFU:
#         H100 SXM / H200 989, H100 PCIe 756, A100 312 (NVIDIA datasheets, without sparsity);
#         anything else needs PEAK_TFLOPS=..., which also overrides the table;
#       - runs `aihf neural bench --preset gpt2-small --device cuda --dtype bf16
#         --peak-tflops P --out $OUT/bench.json [extra flags]` (the table also goes to
#         $OUT/bench.txt). Extra flags may set any other field (--batch, --seq-len, --steps, ...).
#       Environment: AIHF_BIN (default target/release/aihf, else `aihf` on PATH), OUT (default
#       the current directory), PEAK_TFLOPS, and PRESET, DEVICE, DTYPE to replace the three
#       fixed flags (clap refuses a flag given twice).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

mode="${1:-}"
[ -n "$mode" ] || usage
shift

case "$mode" in
build)
    cd "$root"
    scripts/torch-env.sh cargo build --release --features neural
    echo "gpu-bench: built $root/target/release/aihf" >&2
    ;;
run)
    bin="${AIHF_BIN:-$root/target/release/aihf}"
    if [ ! -x "$bin" ]; then
        bin="$(command -v aihf || true)"
    fi
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        echo "gpu-bench: no aihf binary (set AIHF_BIN, or run '$0 build' where Rust is)" >&2
        exit 1
    fi
    torch_version="$(python3 -W ignore -c 'import torch; print(torch.__version__)')" || {
        echo "gpu-bench: python3 cannot import torch (PyTorch 2.11.0 must be installed)" >&2
        exit 1
    }
    case "$torch_version" in
    2.11.0*) ;;
    *)
        echo "gpu-bench: PyTorch $torch_version found; the binary needs 2.11.0 (tch 0.24)" >&2
        exit 1
        ;;
    esac
    torch_lib="$(python3 -W ignore -c 'import torch, os; print(os.path.join(torch.__path__[0], "lib"))')"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    if [ ! -f "$torch_lib/libtorch_cuda.so" ]; then
        echo "gpu-bench: $torch_lib/libtorch_cuda.so missing: a CPU-only PyTorch" >&2
        exit 1
    fi

    gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)" || {
        echo "gpu-bench: nvidia-smi failed: no NVIDIA GPU or driver" >&2
        exit 1
    }
    if [ -n "${PEAK_TFLOPS:-}" ]; then
        peak="$PEAK_TFLOPS"
    else
        case "$gpu" in
        *H100*PCIe*) peak=756 ;;
        *H100* | *H200*) peak=989 ;;
        *A100*) peak=312 ;;
        *)
            echo "gpu-bench: no peak bf16 TFLOP/s known for '$gpu'; set PEAK_TFLOPS" >&2
            exit 1
            ;;
        esac
    fi
    out="${OUT:-.}"
    mkdir -p "$out"
    echo "gpu-bench: $gpu, peak $peak TFLOP/s bf16, torch $torch_version ($torch_lib), $bin" >&2
    "$bin" neural bench --preset "${PRESET:-gpt2-small}" --device "${DEVICE:-cuda}" \
        --dtype "${DTYPE:-bf16}" \
        --peak-tflops "$peak" --out "$out/bench.json" "$@" | tee "$out/bench.txt"
    ;;
*)
    usage
    ;;
esac
