#!/usr/bin/env bash
# The prepared GPU check (issue 16): on a machine with an NVIDIA GPU, nvcc and nvidia-smi,
# builds the `cuda` feature, runs the CUDA tests (one training step of every network and head
# on the GPU against the same step on the CPU), times training steps on both devices, and
# trains and evaluates a quick run on the GPU. One JSON line per measurement on stdout; the
# build and test logs go to stderr. Meant to run as one command on a lent GPU machine:
#   bash benches/gpu-check.sh 2>gpu-check.log | tee gpu-check.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
echo "{\"gpu\": \"$gpu\", \"nvcc\": \"$(nvcc --version | tail -1)\"}"
cargo build --release -p sphereface-core --features cuda --bin sphereface >&2
cargo test --release -p sphereface-core --features cuda --test cuda -- --nocapture >&2
echo '{"cuda_tests": "passed"}'
B=target/release/sphereface
for net in mnist4 sphere20; do
    for batch in 64 256; do
        "$B" bench --net "$net" --batch "$batch" --steps 10 --warmup 3 --device cuda
        "$B" bench --net "$net" --batch "$batch" --steps 4 --warmup 1 --device cpu
    done
done
"$B" bench --net mnist4 --eval --batch 500 --steps 10 --warmup 3 --device cuda
"$B" bench --net mnist4 --eval --batch 500 --steps 10 --warmup 3 --device cpu
out=$(mktemp -d)
"$B" train --loss angular --dim 2 --protocol quick --device cuda --quiet --out "$out/quick" >&2
cat "$out/quick/metrics.json" | tr -d '\n ' ; echo
"$B" evaluate --run "$out/quick" --device cuda
