#!/usr/bin/env bash
# sphereface bench against the PyTorch reference (benches/pytorch_mnist4.py) in one sitting,
# alternating, REPS times per batch size (default 5); one JSON line per measurement. Run on an idle machine:
#   cargo build --release -p sphereface-core --bin sphereface
#   python3 -m pip install torch
#   bash benches/compare.sh | tee benches/compare-$(date +%F).jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/sphereface}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
for batch in 256 64; do
    for _ in $(seq "$REPS"); do
        "$B" bench --net mnist4 --batch "$batch" --steps 10 --warmup 2 --threads "$THREADS"
        python3 benches/pytorch_mnist4.py --batch "$batch" --steps 10 --warmup 2 --threads "$THREADS"
    done
done
