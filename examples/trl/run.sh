#!/usr/bin/env bash
# End-to-end check of an outside trainer (issue 13, part 3): export a Markov task for TRL, train a
# tiny GPT-2 from scratch with TRL's SFTTrainer then DPOTrainer on CPU, sample H tokens per
# response with log-probabilities, and score them with `aihf truth score`, beside the exact
# estimators on the same data. See README.md here. About 5–10 minutes on 2 CPU cores.
#
#   examples/trl/run.sh [OUT]        # OUT defaults to examples/trl/out
#
# Creates examples/trl/.venv (pinned requirements.txt; the torch wheel is a few GB) on first use.
# Uses target/release/aihf (built if missing) or $AIHF.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/out}"
aihf="${AIHF:-$root/target/release/aihf}"
[ -x "$aihf" ] || (cd "$root" && cargo build --release)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
V=8 H=8 N=2000 M=2000 SEED=1
mkdir -p "$out"
"$aihf" truth gen --out-dir "$out/mk" --vocab $V --horizon $H --nnz-per-row 3 \
    --demos $N --comparisons $M --seed $SEED
"$aihf" truth export --format trl --task "$out/mk/task.json" --demos "$out/mk/demos.jsonl" \
    --prefs "$out/mk/prefs.jsonl" --out "$out/trl"
# The exact estimators on the same data (truth estimate, issue 11), one policy file.
if "$aihf" truth estimate --help >/dev/null 2>&1; then
    "$aihf" truth estimate --task "$out/mk/task.json" --demos "$out/mk/demos.jsonl" \
        --prefs "$out/mk/prefs.jsonl" --method all --json --policy-out "$out/estimates.json" \
        > "$out/estimates_summary.json"
fi
OMP_NUM_THREADS=1 "$venv/bin/python" "$here/train_trl.py" "$out/trl" "$out/trl_run" --seed $SEED
for m in sft dpo; do
    est=()
    # SFT's exact counterpart is the policy-class MLE `sft`; TRL's DPO (reference = the SFT
    # model, β = the task's β) targets `rlhf` with the SFT reference (SPEC §3.2).
    name=$([ $m = sft ] && echo sft || echo rlhf_sft)
    if [ -f "$out/estimates.json" ]; then est=(--estimate "$out/estimates.json" --estimate-name "$name"); fi
    "$aihf" truth score --task "$out/mk/task.json" --samples "$out/trl_run/samples_$m.jsonl" \
        "${est[@]}" --label "TRL $m" --out "$out/score_trl_$m" --json > "$out/score_trl_$m.json"
    "$aihf" truth score --task "$out/mk/task.json" --samples "$out/trl_run/samples_$m.jsonl" \
        "${est[@]}" --label "TRL $m"
done
