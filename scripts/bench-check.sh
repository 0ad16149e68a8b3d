#!/usr/bin/env bash
# `sigc check` over the SigmaHQ corpus with every lint on (target: < 1 s wall), release build,
# timed end to end with hyperfine (RUNS runs, default 20; a loop of `time` without it). Prints
# the Markdown row of BENCHMARKS.md's "Check" section.
# Usage: scripts/bench-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS=../shared/corpus/sigma/rules
RUNS=${RUNS:-20}
if [ ! -d "$CORPUS" ]; then
    echo "error: $CORPUS is missing (../shared must sit beside this checkout)" >&2
    exit 1
fi

cargo build --release --locked --quiet
BIN=./target/release/sigc
files=$(find "$CORPUS" -name '*.yml' | wc -l)
# The run must reach the end: exit 0 (no errors) or 1 (errors found), never a crash.
"$BIN" check "$CORPUS" > /dev/null || [ $? -eq 1 ]
load=$(cut -d' ' -f1 /proc/loadavg)

if command -v hyperfine > /dev/null; then
    json=$(mktemp)
    trap 'rm -f "$json"' EXIT
    hyperfine --warmup 3 --runs "$RUNS" -i --export-json "$json" \
        "$BIN check $CORPUS" > /dev/null
    read -r mean sd < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f\"{r['mean']*1000:.0f} {r['stddev']*1000:.0f}\")" "$json")
    tool="hyperfine, $RUNS runs"
else
    total=0
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$BIN" check "$CORPUS" > /dev/null || true
        total=$((total + $(date +%s%N) - start))
    done
    mean=$((total / RUNS / 1000000))
    sd="?"
    tool="loop of $RUNS runs"
fi
echo "| \`sigc check $CORPUS\` ($files files, every lint) | ${mean} ms ± ${sd} ms | < 1 s | $(nproc) cores, load ${load} | $tool |"
