#!/usr/bin/env bash
# The prepared GPU check: on a machine with an NVIDIA GPU, runs the CUDA tests (one training
# step of every network and head on the GPU against the same step on the CPU), times training
# and evaluation steps of ours and of PyTorch on the GPU, trains and evaluates a quick run
# there and times `reproduce` (quick and lecture) on it. One JSON line per measurement on stdout (and in $OUT/gpu-check.jsonl when OUT is
# set); build and test logs go to stderr. Each step has its own time limit and a failed step
# is reported and does not stop the others; the script exits non-zero if any step failed.
#
# Two ways to run it:
#   - where cargo and the CUDA toolkit are: it builds the `cuda` feature itself;
#   - on a GPU machine without Rust (the lent machines): build first elsewhere with
#     `bash benches/gpu-build.sh` (no GPU needed), carry target/gpu-bin, and run
#     `GPU_BIN=target/gpu-bin bash benches/gpu-check.sh`.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
jsonl=${OUT:+$OUT/gpu-check.jsonl}
failed=()
emit() { echo "$1"; [ -n "$jsonl" ] && echo "$1" >>"$jsonl"; return 0; }
# step NAME SECONDS CMD...: runs CMD under a time limit; its stdout lines that are JSON objects
# are emitted, everything else goes to stderr.
step() {
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS out rc
    out=$(timeout "$limit" "$@" 2> >(sed "s/^/[$name] /" >&2)); rc=$?
    while IFS= read -r line; do
        case "$line" in "{"*) emit "$line" ;; *) [ -n "$line" ] && echo "[$name] $line" >&2 ;; esac
    done <<<"$out"
    if [ $rc -ne 0 ]; then
        failed+=("$name")
        emit "{\"step\": \"$name\", \"failed\": true, \"exit\": $rc, \"seconds\": $((SECONDS - t0))}"
    else
        emit "{\"step\": \"$name\", \"seconds\": $((SECONDS - t0))}"
    fi
}

source benches/gpu-env.sh
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader | head -1)
emit "{\"gpu\": \"$gpu\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"cores\": $(nproc), \"date_utc\": \"$(date -u +%FT%TZ)\", \"ld_library_path\": \"${LD_LIBRARY_PATH:-}\"}"

if [ -n "${GPU_BIN:-}" ]; then
    B=$GPU_BIN/sphereface
    TESTS=$GPU_BIN/cuda-tests
else
    cargo build --release -p sphereface-core --features cuda --bin sphereface >&2 || exit 1
    cargo test --release -p sphereface-core --features cuda --test cuda --no-run >&2 || exit 1
    B=target/release/sphereface
    TESTS=$(ls -t target/release/deps/cuda-* | grep -v '\.d$' | head -1)
fi

step cuda-tests 240 "$TESTS" --nocapture --test-threads 1
# Ours and PyTorch alternated, ROUNDS times (default 3), for medians of one sitting.
for round in $(seq "${ROUNDS:-3}"); do
    for net in mnist4 sphere20; do
        for batch in 64 256; do
            step "ours-$net-$batch" 90 "$B" bench --net "$net" --batch "$batch" --steps 20 --warmup 3 --device cuda
            step "pytorch-$net-$batch" 90 python3 benches/pytorch_bench.py --device cuda --net "$net" --batch "$batch" --steps 20 --warmup 3
        done
        step "ours-$net-eval" 90 "$B" bench --net "$net" --eval --batch 500 --steps 20 --warmup 3 --device cuda
        step "pytorch-$net-eval" 90 python3 benches/pytorch_bench.py --device cuda --net "$net" --eval --batch 500 --steps 20 --warmup 3
    done
done
tmp=$(mktemp -d)
run=$tmp/quick-angular-d2
step quick-train 240 "$B" train --loss angular --dim 2 --protocol quick --device cuda --quiet --out "$run"
[ -f "$run/metrics.json" ] && emit "$(tr -d '\n' <"$run/metrics.json")"
step quick-evaluate 120 "$B" evaluate --run "$run" --device cuda
# Time to a result on the GPU: the README's command and the lecture protocol, one run at a time.
for protocol in $([ "${REPRODUCE:-1}" = 1 ] && echo quick lecture); do
    step "reproduce-$protocol" 300 "$B" reproduce --protocol "$protocol" --device cuda --jobs 1 --quiet --out "$tmp/$protocol"
    [ -f "$tmp/$protocol/reproduce.json" ] && emit "$(tr -d '\n' <"$tmp/$protocol/reproduce.json")"
    [ -n "${OUT:-}" ] && cp "$tmp/$protocol/results.md" "$OUT/results-$protocol.md" 2>/dev/null
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
