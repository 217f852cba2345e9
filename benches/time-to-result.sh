#!/usr/bin/env bash
# Time to a result: the wall time of the whole `reproduce` command (six runs, evaluations,
# table, figures) before (round 3: the im2col route, one run at a time on both cores) and
# after (the direct kernels where they win, two runs at once with one thread each), ROUNDS
# alternations (default 2) for each protocol in PROTOCOLS (default: quick lecture). Then
# the `long` protocol's first LONG_STEPS steps (default 1,500; 0 skips them), two runs at
# once (angular, d = 2 and 3, one thread each), once per route: its full six runs take
# hours, so its time is projected from these rates. One JSON line per measurement, tagged
# with the CPU and the build, the same fields as benches/time-to-result-2026-12-04.jsonl:
#   cargo build --release -p sphereface-core --bin sphereface
#   bash benches/time-to-result.sh | tee -a benches/time-to-result-$(date +%F).jsonl
# ROUTES (default: im2col auto) picks the routes, LOSSES (default: the seed's three) the
# losses, and OUT keeps the runs there instead of a temporary directory; one round of the
# `long` protocol, two runs (one loss in 2-D and 3-D) at once on the direct route:
#   ROUNDS=1 PROTOCOLS=long LOSSES=angular ROUTES=auto LONG_STEPS=0 OUT=/tmp/ttr bash benches/time-to-result.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/sphereface}
ROUNDS=${ROUNDS:-2}
PROTOCOLS=${PROTOCOLS:-quick lecture}
LONG_STEPS=${LONG_STEPS:-1500}
ROUTES=${ROUTES:-im2col auto}
LOSSES=${LOSSES:-original,modified,angular}
if [ -n "${OUT:-}" ]; then
    WORK=$OUT
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f)$' | tr '\n' ',' | sed 's/,$//; s/,/, /'))"
BUILD=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- sphereface-core || echo "+changes")
# record FILE ROUTE ROUND [KEY=VALUE...]: FILE's JSON with the route asked, round, build,
# CPU and the extra fields added, as one line
record() {
    python3 - "$@" "BUILD=$BUILD" "CPU=$CPU" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["route_asked"] = "SPHEREFACE_CONV=" + sys.argv[2]
d["round"] = int(sys.argv[3])
for kv in sys.argv[4:]:
    k, v = kv.split("=", 1)
    d[k.lower()] = float(v) if k == "PEAK_RSS_MB" else v
print(json.dumps(d, sort_keys=True), flush=True)
PY
}
for round in $(seq "$ROUNDS"); do
    for protocol in $PROTOCOLS; do
        for route in $ROUTES; do
            jobs=$([ "$route" = im2col ] && echo 1 || echo 2)
            out="$WORK/$protocol-$route"
            rm -rf "$out"
            SPHEREFACE_CONV=$route /usr/bin/time -v -o "$WORK/time.txt" "$B" reproduce --protocol "$protocol" --losses "$LOSSES" --jobs "$jobs" --out "$out" --quiet > "$WORK/log.txt" 2>&1
            rss=$(awk -F: '/Maximum resident/ {printf "%.1f", $2 / 1024}' "$WORK/time.txt")
            record "$out/reproduce.json" "$route" "$round" "PEAK_RSS_MB=$rss" "PEAK_RSS_HOW=/usr/bin/time -v"
        done
    done
done
if [ "$LONG_STEPS" -gt 0 ]; then
    for route in im2col auto; do
        for dim in 2 3; do
            SPHEREFACE_CONV=$route "$B" train --protocol long --loss angular --dim "$dim" --steps "$LONG_STEPS" --threads 1 --out "$WORK/long-$route-$dim" --quiet > "$WORK/long-$dim.txt" 2>&1 &
        done
        wait
        for dim in 2 3; do
            python3 - "$WORK/long-$route-$dim/metrics.json" "$route" "$LONG_STEPS" "$BUILD" "$CPU" "$dim" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"build": sys.argv[4], "conv": m.get("conv"), "cpu": sys.argv[5], "dim": int(sys.argv[6]),
                  "images_per_second": round(m["images_per_second"], 1), "route_asked": "SPHEREFACE_CONV=" + sys.argv[2],
                  "steps": int(sys.argv[3]), "train_seconds": round(m["train_seconds"], 1),
                  "what": "train --protocol long --loss angular --steps %s --threads 1, two runs at once (d = 2 and 3)" % sys.argv[3]},
                 sort_keys=True), flush=True)
PY
        done
    done
fi
