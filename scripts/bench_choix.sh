#!/usr/bin/env bash
# Side-by-side timing of aihf's BTL maximum likelihood against choix's ilsr_pairwise (the
# fastest pairwise MLE of the Python library choix), on the same data: 1,000 actions,
# 100,000 random comparisons (and 10,000 demonstrations for AIHF). choix is installed in a
# throw-away virtual environment under target/. Usage: scripts/bench_choix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/choix-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q choix numpy scipy
fi
cargo build --release -q
data=target/bench-btl-1000.json
./target/release/aihf sample --truth gaussian --n-actions 1000 --demos 10000 \
  --random-comparisons 100000 --seed 1 --out "$data"
echo "== aihf (solver time per method, gradient tolerance 1e-10 relative; median of 5 runs)"
for m in btl aihf; do
  for _ in 1 2 3 4 5; do
    ./target/release/aihf bandit --data "$data" --method $m --json | "$venv/bin/python" -c \
      "import json,sys; d=json.load(sys.stdin); print(list(d.values())[0]['seconds'])"
  done | sort -g | sed -n 3p | sed "s/^/$m seconds: /"
done
echo "== choix ilsr_pairwise (tol 1e-8; median of 5 runs)"
"$venv/bin/python" - "$data" <<'PY'
import json, sys, time
import numpy as np, choix
d = json.load(open(sys.argv[1]))
n = d["n_actions"]; M = d["preferences"]
pairs = [(i, j) for i in range(n) for j in range(n) for _ in range(M[i][j])]
ts = []
for _ in range(5):
    t = time.perf_counter()
    p = choix.ilsr_pairwise(n, pairs, tol=1e-8, max_iter=1000)
    ts.append(time.perf_counter() - t)
ts.sort()
print("choix seconds:", ts[2])
# Agreement with aihf's estimate (both mean-zero).
import subprocess
out = subprocess.run(["./target/release/aihf", "bandit", "--data", sys.argv[1], "--method", "btl", "--json"],
                     capture_output=True, text=True, check=True).stdout
r = np.array(json.loads(out)["btl"]["reward"])
print("max |r_aihf - r_choix| =", float(np.max(np.abs(r - (p - p.mean())))))
PY
