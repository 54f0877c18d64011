#!/usr/bin/env bash
# Side-by-side timing of aihf's BTL (and AIHF) maximum likelihood against choix's ilsr_pairwise
# (the fastest pairwise MLE of the Python library choix) on several data sets, each written once
# and given to both:
#   random    1,000 actions, 100,000 comparisons on uniformly random pairs, r ~ N(0,1), drawn
#             by numpy here (data the project has not seen), as {"pairs": [[winner, loser], ...]}
#   readme    the README's data: `aihf sample --truth gaussian --n-actions 1000 --demos 10000
#             --random-comparisons 100000 --seed 1`
#   large     10,000 actions, 1,000,000 random comparisons (aihf only: choix's ilsr builds a
#             dense n x n chain matrix)
#   huge      100,000 actions, 10,000,000 random comparisons (aihf only; skipped unless
#             BENCH_HUGE=1: writing the 150 MB file takes a minute)
# aihf is timed as a whole process (`aihf bandit --data F --method btl --json > /dev/null`,
# wall clock by date +%s%N around the process and peak RSS by /usr/bin/time, minimum of 10
# runs; `--timing` prints where the time goes), choix in-process (the solve alone, tol 1e-8, minimum of 5 runs), plus the
# largest difference of the two mean-zero reward vectors.
# choix and numpy are installed, pinned, in a throw-away virtual environment under target/.
# Usage: scripts/bench_choix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/choix-venv
py="$venv/bin/python"
if ! "$py" -c "import choix, numpy, scipy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q choix==0.4.1 numpy==2.4.6 scipy==1.17.1
fi
cargo build --release -q
aihf=./target/release/aihf
dir=target/bench-choix
mkdir -p "$dir"

gen_random() { # n m seed file
  "$py" - "$@" <<'PY'
import sys, numpy as np
n, m, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(seed)
r = rng.standard_normal(n)
i = rng.integers(0, n, m)
j = (i + rng.integers(1, n, m)) % n          # a uniformly random other action
win = rng.random(m) < 1 / (1 + np.exp(-(r[i] - r[j])))
w, l = np.where(win, i, j), np.where(win, j, i)
with open(out, "w") as f:
    f.write('{"n_actions": %d, "preferences": {"pairs": [' % n)
    f.write(",".join(f"[{a},{b}]" for a, b in zip(w.tolist(), l.tolist())))
    f.write("]}}\n")
PY
}

time_aihf() { # file method; sets $aihf_s (the best wall seconds)
  local best="" kb=0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$dir/time.txt" "$aihf" bandit --data "$1" --method "$2" --json > "$dir/out.json"
    t1=$(date +%s%N)
    local s
    s=$(awk "BEGIN{printf \"%.4f\", ($t1 - $t0) / 1e9}")
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; kb=$(cat "$dir/time.txt"); fi
  done
  aihf_s=$best
  echo "aihf $2 whole process: $best s wall, peak RSS $(( kb / 1024 )) MB (min of 10; date +%s%N around the process)"
  "$aihf" bandit --data "$1" --method "$2" --json --timing > /dev/null
}

ratio() { # choix seconds in $dir/choix.txt, aihf in $aihf_s
  awk "BEGIN{printf \"ratio choix / aihf (whole process): %.1fx\n\", $(cat "$dir/choix.txt") / $aihf_s}"
}

time_choix() { # file
  "$py" - "$1" "$dir/out.json" "$dir/choix.txt" <<'PY'
import json, sys, time
import numpy as np, choix
d = json.load(open(sys.argv[1]))
n, P = d["n_actions"], d["preferences"]
if isinstance(P, list):
    pairs = [(i, j) for i in range(n) for j in range(n) for _ in range(P[i][j])]
elif "pairs" in P:
    pairs = [tuple(p) for p in P["pairs"]]
else:
    pairs = [(w, l) for w, l, c in P["counts"] for _ in range(c)]
ts = []
for _ in range(5):
    t = time.perf_counter()
    p = choix.ilsr_pairwise(n, pairs, tol=1e-8, max_iter=1000)
    ts.append(time.perf_counter() - t)
print(f"choix ilsr_pairwise in-process: {min(ts):.3f} s (min of 5)")
open(sys.argv[3], "w").write(f"{min(ts)}\n")
r = np.array(json.load(open(sys.argv[2]))["btl"]["reward"])
print(f"max |r_aihf - r_choix| = {np.max(np.abs(r - (p - p.mean()))):.2e}")
PY
}

echo "== random: 1,000 actions, 100,000 random comparisons (numpy, seed 1)"
[ -f "$dir/random.json" ] || gen_random 1000 100000 1 "$dir/random.json"
time_aihf "$dir/random.json" btl
time_choix "$dir/random.json"
ratio

echo "== readme: aihf sample --truth gaussian --n-actions 1000 --demos 10000 --random-comparisons 100000 --seed 1"
[ -f "$dir/readme.json" ] || "$aihf" sample --truth gaussian --n-actions 1000 --demos 10000 \
  --random-comparisons 100000 --seed 1 --out "$dir/readme.json" > /dev/null
time_aihf "$dir/readme.json" btl
time_choix "$dir/readme.json"
ratio
time_aihf "$dir/readme.json" aihf

echo "== large: 10,000 actions, 1,000,000 random comparisons (aihf only; targets < 2 s, < 1 GB)"
[ -f "$dir/large.json" ] || gen_random 10000 1000000 2 "$dir/large.json"
time_aihf "$dir/large.json" btl

if [ "${BENCH_HUGE:-0}" = 1 ]; then
  echo "== huge: 100,000 actions, 10,000,000 random comparisons (aihf only; targets < 60 s, < 4 GB)"
  [ -f "$dir/huge.json" ] || gen_random 100000 10000000 3 "$dir/huge.json"
  time_aihf "$dir/huge.json" btl
fi
