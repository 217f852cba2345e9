#!/usr/bin/env bash
# sphereface bench against the PyTorch reference (benches/pytorch_bench.py) in one sitting,
# alternating, REPS times per configuration (default 5); one JSON line per measurement,
# tagged with the sitting (UTC time and CPU model) and the build (git commit).
# mnist4: training at batch 256 and 64 against PyTorch with TF padding (the same ops as ours)
# and with PyTorch's own padding=1 (the fastest honest formulation); evaluation at batch 500.
# sphere20: training at batch 64 and 256. Ours runs once per convolution route in CONVS
# (default: `auto`, the direct kernels where they win, and `im2col`, the route of rounds 1-3,
# so that before and after come from one binary in one sitting). Every line of ours carries
# GFLOP/s, the FMA peak measured right after it (and how), the fraction of that peak, and the
# peak resident memory; PyTorch's carry GFLOP/s (same FLOP count) and peak resident memory.
# Run on an idle machine:
#   cargo build --release -p sphereface-core --bin sphereface
#   python3 -m pip install torch
#   REPS=3 bash benches/compare.sh | tee benches/compare-$(date +%F).jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/sphereface}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
CONVS=${CONVS:-auto im2col}
PY="python3 benches/pytorch_bench.py --threads $THREADS"
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f)$' | tr '\n' ' ' | sed 's/ $//')
# NOTE, if set, is added to the sitting tag (e.g. how a machine was simulated).
SITTING="$(date -u '+%F %H:%M UTC'), $CPU ($FLAGS), $(nproc) cores${NOTE:+, $NOTE}"
BUILD=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- sphereface-core || echo "+changes")
tag() {
    python3 -c 'import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        d = json.loads(line); d["sitting"] = sys.argv[1]; d["build"] = sys.argv[2]; print(json.dumps(d, sort_keys=True), flush=True)' "$SITTING" "$BUILD"
}
ours() {
    for conv in $CONVS; do
        SPHEREFACE_CONV=$conv "$B" bench "$@" --threads "$THREADS" | tag
    done
}
for _ in $(seq "$REPS"); do
    for batch in 256 64; do
        ours --net mnist4 --batch "$batch" --steps 10 --warmup 2
        $PY --net mnist4 --batch "$batch" --steps 10 --warmup 2 --padding tf | tag
        $PY --net mnist4 --batch "$batch" --steps 10 --warmup 2 --padding torch | tag
    done
    ours --net mnist4 --eval --batch 500 --steps 10 --warmup 2
    $PY --net mnist4 --eval --batch 500 --steps 10 --warmup 2 --padding torch | tag
    for batch in 64 256; do
        ours --net sphere20 --batch "$batch" --steps 3 --warmup 1
        $PY --net sphere20 --batch "$batch" --steps 3 --warmup 1 | tag
    done
done
