#!/usr/bin/env bash
# Figure 9 side by side: `aihf sim sims/fig9_gaussian.toml` with 10^4 replications (wall clock
# of the whole study as the results file records it, minimum of 3 runs; all cores) against
# scripts/fig9_numpy.py (the same study as a numpy/scipy notebook, one core: scipy.optimize's
# Newton-CG, and a hand-written numpy Newton), per replication. numpy and scipy are pinned in a
# throw-away virtual environment under target/. The machine's load is printed: on a shared
# machine take the minimum over runs and say what the load was.
# Usage: scripts/bench_fig9.sh [NUMPY_REPLICATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/choix-venv
py="$venv/bin/python"
if ! "$py" -c "import numpy, scipy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q choix==0.4.1 numpy==2.4.6 scipy==1.17.1
fi
cargo build --release -q
reps=${1:-200}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
best=""
for _ in 1 2 3; do
  s=$(./target/release/aihf sim sims/fig9_gaussian.toml --replications 10000 --quiet \
        --out target/bench-fig9 | sed -n 's/.* solves in \([0-9.]*\) s.*/\1/p')
  if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; fi
done
echo "aihf: 10^4 replications in $best s wall (min of 3): $(awk "BEGIN{print 1000*$best/10000}") ms per replication"
for solver in scipy newton; do
  "$py" scripts/fig9_numpy.py "$reps" "$solver" | head -1
done
