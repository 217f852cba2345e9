#!/usr/bin/env bash
# The sphere20 `long` runs on a lent GPU machine (docs/EXPERIMENTS.md "sphere20 under long"):
# A-Softmax, original and modified softmax in 2-D and 3-D, 51,200 steps of 64 at the
# learning rate chosen on validation (1e-4), on GPU 0. Each run is interrupted as Ctrl-C
# would (SIGINT: it saves its checkpoint) when LIMIT seconds of this call are spent, and the
# next call of this script resumes it, so the runs can span several calls of a machine that
# stays warm between them (the checkpoints live under runs/, which the next call keeps).
# A finished run is packed into $OUT/sphere20-long-LABEL.tar.gz (config, metrics, history
# and embeddings, gzipped; not the 140 MB checkpoint), to be unpacked into results/long/.
#
#   GPU_BIN=target/gpu-bin LIMIT=540 bash benches/gpu-long.sh      # after gpu-build.sh
#
# STEPS (default the protocol's 51,200), LOSSES (default "angular original modified") and
# DIMS (default "2 3") choose less, e.g. STEPS=1000 for the 1,000-step probe of the
# learning-rate table; DEVICE=cpu runs it on the CPU (to try the script). Measured on an
# H200: about 4,300 images/s, so about 13 minutes a run.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${GPU_BIN:+$GPU_BIN/}sphereface
[ -n "${GPU_BIN:-}" ] || B=target/release/sphereface
[ -n "${GPU_BIN:-}" ] && source benches/gpu-env.sh
start=$SECONDS
limit=${LIMIT:-540}
steps=${STEPS:-51200}
status=0
for loss in ${LOSSES:-angular original modified}; do
    for dim in ${DIMS:-2 3}; do
        label=$loss-d$dim
        dir=runs/sphere20-long-$steps/$label
        if [ ! -f "$dir/metrics.json" ]; then
            left=$((limit - (SECONDS - start)))
            [ $left -lt 30 ] && { echo "$label: not started, $left s of this call left" >&2; status=2; continue; }
            resume=()
            [ -f "$dir/checkpoint.bin" ] && resume=(--resume)
            timeout -s INT "$left" "$B" train --net sphere20 --loss "$loss" --dim "$dim" --protocol long --lr 1e-4 \
                --steps "$steps" --device "${DEVICE:-cuda}" --quiet --out "$dir" "${resume[@]}" >&2
            rc=$?
            [ -f "$dir/metrics.json" ] || { echo "$label: stopped (exit $rc), checkpoint kept; call again to resume" >&2; status=2; continue; }
        fi
        echo "$(tr -d '\n' <"$dir/metrics.json")"
        if [ -n "${OUT:-}" ]; then
            files=$(cd "$dir" && for f in config.json metrics.json history.csv embeddings.csv head.json; do [ -f "$f" ] && echo "$f"; done)
            (cd "$dir" && tar -czf "$OUT/sphere20-long-$steps-$label.tar.gz" $files)
        fi
    done
done
exit $status
