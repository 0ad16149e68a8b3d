#!/usr/bin/env bash
# Load+lower benchmark: `sigc check --format json` over the whole SigmaHQ corpus.
#
# Measures wall time (mean and standard deviation of RUNS runs, default 20, with hyperfine if it
# is installed, else a loop of /usr/bin/time) and peak RSS (maximum over 5 runs of
# /usr/bin/time -v). Prints Markdown table rows in the BENCHMARKS.md format; with --append they
# are also appended to BENCHMARKS.md.
#
# Targets (issue): under 0.3 s wall, under 150 MB peak RSS.
# Usage: scripts/bench-load.sh [--append]     (RUNS=30 scripts/bench-load.sh for more runs)
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS=../shared/corpus/sigma/rules
RUNS=${RUNS:-20}
APPEND=0
[ "${1:-}" = "--append" ] && APPEND=1

if [ ! -d "$CORPUS" ]; then
    echo "error: $CORPUS is missing (../shared must sit beside this checkout)" >&2
    exit 1
fi
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is needed for peak RSS (apt-get install -y time)" >&2
    exit 1
fi

cargo build --release --locked --quiet
# Other work on the machine skews wall time; the 1-minute load average goes into the table.
load=$(cut -d' ' -f1 /proc/loadavg)
BIN=./target/release/sigc
CMD="$BIN check --format json $CORPUS"

# The command must succeed (every corpus rule loads) or the timing means nothing.
"$BIN" check --format json "$CORPUS" > /dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if command -v hyperfine > /dev/null; then
    hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$tmp/h.json" \
        "$CMD > /dev/null" >&2
    # Pull mean and stddev (seconds) out of hyperfine's JSON without needing jq.
    mean=$(grep -m1 '"mean"' "$tmp/h.json" | sed -E 's/.*: *([0-9.eE+-]+),?/\1/')
    sd=$(grep -m1 '"stddev"' "$tmp/h.json" | sed -E 's/.*: *([0-9.eE+-]+),?/\1/')
    tool="hyperfine, $RUNS runs after 3 warm-up"
else
    for _ in 1 2 3; do "$BIN" check --format json "$CORPUS" > /dev/null; done
    for i in $(seq "$RUNS"); do
        /usr/bin/time -f '%e' -o "$tmp/t$i" "$BIN" check --format json "$CORPUS" > /dev/null
    done
    read -r mean sd < <(cat "$tmp"/t* | awk '{s+=$1; q+=$1*$1; n++} END {m=s/n; v=q/n-m*m; if (v<0) v=0; print m, sqrt(v)}')
    tool="/usr/bin/time loop, $RUNS runs after 3 warm-up"
fi

rss_kb=0
for i in 1 2 3 4 5; do
    /usr/bin/time -v -o "$tmp/v$i" "$BIN" check --format json "$CORPUS" > /dev/null
    kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/v$i")
    [ "$kb" -gt "$rss_kb" ] && rss_kb=$kb
done

cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
when=$(date)
ms=$(awk -v m="$mean" 'BEGIN {printf "%.0f", m * 1000}')
sd_ms=$(awk -v s="$sd" 'BEGIN {printf "%.0f", s * 1000}')
mb=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')
files=$(find "$CORPUS" -name '*.yml' | wc -l)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

rows=$(cat <<EOF
| Load+lower $files corpus rules: wall time (mean ± sd; $tool) | \`sigc check --format json ../shared/corpus/sigma/rules > /dev/null\` | $cores cores ($cpu), load avg $load before the run | $when (commit $commit) | **$ms ms** ± $sd_ms ms (target < 300 ms) |
| Load+lower $files corpus rules: peak RSS (max of 5 runs, /usr/bin/time -v) | \`sigc check --format json ../shared/corpus/sigma/rules > /dev/null\` | $cores cores ($cpu), load avg $load before the run | $when (commit $commit) | **$mb MB** (target < 150 MB) |
EOF
)
echo "$rows"
if [ "$APPEND" = 1 ]; then
    echo "$rows" >> BENCHMARKS.md
    echo "appended to BENCHMARKS.md" >&2
fi
