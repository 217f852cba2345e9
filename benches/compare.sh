#!/usr/bin/env bash
# sphereface bench against the PyTorch reference (benches/pytorch_bench.py) in one sitting,
# alternating, REPS times per configuration (default 5); one JSON line per measurement.
# mnist4: training at batch 256 and 64 against PyTorch with TF padding (the same ops as ours)
# and with PyTorch's own padding=1 (the fastest honest formulation); evaluation at batch 500.
# sphere20: training at batch 64 and 256. Run on an idle machine:
#   cargo build --release -p sphereface-core --bin sphereface
#   python3 -m pip install torch
#   bash benches/compare.sh | tee benches/compare-$(date +%F).jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/sphereface}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
PY="python3 benches/pytorch_bench.py --threads $THREADS"
for _ in $(seq "$REPS"); do
    for batch in 256 64; do
        "$B" bench --net mnist4 --batch "$batch" --steps 10 --warmup 2 --threads "$THREADS"
        $PY --net mnist4 --batch "$batch" --steps 10 --warmup 2 --padding tf
        $PY --net mnist4 --batch "$batch" --steps 10 --warmup 2 --padding torch
    done
    "$B" bench --net mnist4 --eval --batch 500 --steps 10 --warmup 2 --threads "$THREADS"
    $PY --net mnist4 --eval --batch 500 --steps 10 --warmup 2 --padding torch
    for batch in 64 256; do
        "$B" bench --net sphere20 --batch "$batch" --steps 3 --warmup 1 --threads "$THREADS"
        $PY --net sphere20 --batch "$batch" --steps 3 --warmup 1
    done
done
