#!/usr/bin/env bash
# Whole-corpus benchmarks: commands that read every SigmaHQ rule, timed end to end (loading
# included):
#   load     `sigc check --format json`          (target: < 0.3 s wall, < 150 MB peak RSS)
#   splunk   `sigc convert -t splunk`            (target: < 0.5 s wall; pySigma ~16 s)
#   tstats   `sigc convert -t splunk -f tstats -p splunk_cim` (no target; half the rules refused)
#   kql      `sigc convert -t kql -p microsoft_xdr` (target: < 0.5 s wall; pySigma ~16 s)
#   spark    `sigc convert -t spark`             (target: < 0.5 s wall; pySigma's Databricks backend ~18 s)
#
# Measures wall time (mean and standard deviation of RUNS runs, default 20, with hyperfine if it
# is installed, else a loop of /usr/bin/time) and peak RSS (maximum over 5 runs of
# /usr/bin/time -v). Prints Markdown table rows in the BENCHMARKS.md format; with --append they
# are also appended to BENCHMARKS.md.
# Usage: scripts/bench-corpus.sh [--append] [load|splunk|tstats|kql|spark ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS=../shared/corpus/sigma/rules
RUNS=${RUNS:-20}
APPEND=0
if [ "${1:-}" = "--append" ]; then APPEND=1; shift; fi
WHICH=("$@")
[ ${#WHICH[@]} -eq 0 ] && WHICH=(load splunk tstats kql spark)

if [ ! -d "$CORPUS" ]; then
    echo "error: $CORPUS is missing (../shared must sit beside this checkout)" >&2
    exit 1
fi
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is needed for peak RSS (apt-get install -y time)" >&2
    exit 1
fi

cargo build --release --locked --quiet
BIN=./target/release/sigc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
files=$(find "$CORPUS" -name '*.yml' | wc -l)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# measure LABEL TARGET_TEXT ARGS...: time `sigc ARGS` and print its two rows.
measure() {
    local label=$1 target=$2
    shift 2
    local shown="sigc $* > /dev/null"
    # The command must run to the end (every corpus rule handled; exit 1 only says some rules
    # were refused, as KQL refuses log sources without a table) or the timing means nothing.
    "$BIN" "$@" > /dev/null 2>&1 || [ $? -eq 1 ]
    # Other work on the machine skews wall time; the 1-minute load average goes into the table.
    local load mean sd tool
    load=$(cut -d' ' -f1 /proc/loadavg)
    if command -v hyperfine > /dev/null; then
        hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$tmp/h.json" \
            -i "$BIN $* > /dev/null 2>&1" >&2
        # Pull mean and stddev (seconds) out of hyperfine's JSON without needing jq.
        mean=$(grep -m1 '"mean"' "$tmp/h.json" | sed -E 's/.*: *([0-9.eE+-]+),?/\1/')
        sd=$(grep -m1 '"stddev"' "$tmp/h.json" | sed -E 's/.*: *([0-9.eE+-]+),?/\1/')
        tool="hyperfine, $RUNS runs after 3 warm-up"
    else
        rm -f "$tmp"/t*
        for _ in 1 2 3; do "$BIN" "$@" > /dev/null; done
        for i in $(seq "$RUNS"); do
            /usr/bin/time -f '%e' -o "$tmp/t$i" "$BIN" "$@" > /dev/null 2>&1 || true
        done
        read -r mean sd < <(cat "$tmp"/t* | awk '{s+=$1; q+=$1*$1; n++} END {m=s/n; v=q/n-m*m; if (v<0) v=0; print m, sqrt(v)}')
        tool="/usr/bin/time loop, $RUNS runs after 3 warm-up"
    fi
    local rss_kb=0 kb
    for i in 1 2 3 4 5; do
        /usr/bin/time -v -o "$tmp/v$i" "$BIN" "$@" > /dev/null 2>&1 || true
        kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/v$i")
        [ "$kb" -gt "$rss_kb" ] && rss_kb=$kb
    done
    local when ms sd_ms mb
    when=$(date)
    ms=$(awk -v m="$mean" 'BEGIN {printf "%.0f", m * 1000}')
    sd_ms=$(awk -v s="$sd" 'BEGIN {printf "%.0f", s * 1000}')
    mb=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')
    local rows
    rows=$(cat <<ROWS
| $label $files corpus rules: wall time (mean ± sd; $tool) | \`$shown\` | $cores cores ($cpu), load avg $load before the run | $when (commit $commit) | **$ms ms** ± $sd_ms ms ($target) |
| $label $files corpus rules: peak RSS (max of 5 runs, /usr/bin/time -v) | \`$shown\` | $cores cores ($cpu), load avg $load before the run | $when (commit $commit) | **$mb MB** |
ROWS
)
    echo "$rows"
    if [ "$APPEND" = 1 ]; then
        echo "$rows" >> BENCHMARKS.md
    fi
}

for w in "${WHICH[@]}"; do
    case $w in
        load) measure "Load+lower" "target < 300 ms; peak RSS target < 150 MB" check --format json "$CORPUS" ;;
        splunk) measure "Convert to SPL (load included)" "target < 500 ms; pySigma ~16 s" convert -t splunk "$CORPUS" ;;
        tstats) measure "Convert to tstats over CIM (load included)" "no target; 1,968 convert, the rest are refused with a diagnostic" convert -t splunk -f tstats -p splunk_cim "$CORPUS" ;;
        kql) measure "Convert to KQL for Defender XDR (load included)" "target < 500 ms; pySigma ~16 s" convert -t kql -p microsoft_xdr "$CORPUS" ;;
        spark) measure "Convert to Spark SQL (load included)" "target < 500 ms; pySigma's Databricks backend ~18 s" convert -t spark "$CORPUS" ;;
        *) echo "error: unknown benchmark $w (load, splunk, tstats, kql, spark)" >&2; exit 1 ;;
    esac
done
[ "$APPEND" = 1 ] && echo "appended to BENCHMARKS.md" >&2
exit 0
