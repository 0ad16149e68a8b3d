#!/usr/bin/env bash
# Evaluator benchmark: `sigc eval --stats` over every event in ../shared/datasets/security-datasets
# (the archives as shipped: zip and tar.gz of JSON lines) with the whole SigmaHQ corpus as rules,
# on 1 core and on 2; the same input with no rules (an empty rules folder: reading, unpacking
# and parsing only); EVTX against the evtx crate's own `evtx_dump`; peak RSS.
#
# `--stats` times the events only (rules are loaded and compiled before its clock starts).
# Each configuration runs RUNS times (default 5) under /usr/bin/time -v; the table gets the
# median of the events/s that `--stats` prints (min–max beside it) and the largest peak RSS.
# EVTX: the chunks of SigmaHQ's regression .evtx files concatenated REPS times (default 200)
# into one file, timed with hyperfine against `evtx_dump -t 1 -o jsonl` (evtx 0.15.1, the
# version sigc links; built once into target/bench-tools with `cargo install`, or set
# EVTX_DUMP=/path/to/evtx_dump).
#
# Targets (issue 3): 200,000 events/s on one core; matching costing no more than parsing; EVTX
# within 1.5x of the evtx crate; peak memory under 250 MB whatever the input.
# Usage: scripts/bench-eval.sh [--append]      (RUNS=3 REPS=50 scripts/bench-eval.sh for less)
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS=../shared/corpus/sigma/rules
DATA=../shared/datasets/security-datasets
REGRESSION=../shared/corpus/sigma/regression_data
RUNS=${RUNS:-5}
REPS=${REPS:-200}
APPEND=0
[ "${1:-}" = "--append" ] && APPEND=1

for d in "$CORPUS" "$DATA" "$REGRESSION"; do
    if [ ! -d "$d" ]; then
        echo "error: $d is missing (../shared must sit beside this checkout)" >&2
        exit 1
    fi
done
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is needed for peak RSS (apt-get install -y time)" >&2
    exit 1
fi

# SIGC=/path/to/sigc SIGC_COMMIT=abc1234 measures a binary built elsewhere (say from a clean
# `git archive` of a commit, when the shared tree holds others' uncommitted work).
if [ -n "${SIGC:-}" ]; then
    BIN=$SIGC
else
    cargo build --release --locked --quiet
    BIN=./target/release/sigc
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/no-rules"

cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
when=$(date)
if [ -n "${SIGC_COMMIT:-}" ]; then
    commit=$SIGC_COMMIT
else
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        commit="$commit + uncommitted changes"
    fi
fi
rules_n=$(find "$CORPUS" -name '*.yml' | wc -l)
rows=""

load() { cut -d' ' -f1 /proc/loadavg; }
# 1234567 -> 1,234,567
fmt() { echo "$1" | sed -E ':a;s/([0-9])([0-9]{3})($|,)/\1,\2\3/;ta'; }

# run_eval LABEL THREADS RULES: RUNS runs of sigc eval --stats over the datasets; appends
# an events/s row and sets $peak_mb (largest peak RSS of the runs).
run_eval() {
    local label=$1 threads=$2 rules=$3 shown=$4
    local before rates=() kb peak_kb=0 events=""
    before=$(load)
    for i in $(seq "$RUNS"); do
        # Exit code 1 only means some rule could not be routed or a record was unreadable;
        # the stats line is what counts, and it must be there.
        /usr/bin/time -v -o "$tmp/time" "$BIN" eval --stats --threads "$threads" \
            --rules "$rules" -- "$DATA" > /dev/null 2> "$tmp/err" || true
        local line
        line=$(grep -E '^[0-9.]+ s, [0-9]+ events/s' "$tmp/err" || true)
        if [ -z "$line" ]; then
            echo "error: no --stats line from sigc:" >&2
            tail -5 "$tmp/err" >&2
            exit 1
        fi
        rates+=("$(echo "$line" | sed -E 's/^[0-9.]+ s, ([0-9]+) events\/s.*/\1/')")
        events=$(grep -E '^[0-9]+ events, ' "$tmp/err" | cut -d' ' -f1)
        kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/time")
        [ "$kb" -gt "$peak_kb" ] && peak_kb=$kb
    done
    local sorted median lo hi
    sorted=$(printf '%s\n' "${rates[@]}" | sort -n)
    median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    lo=$(echo "$sorted" | head -1)
    hi=$(echo "$sorted" | tail -1)
    peak_mb=$(awk -v k="$peak_kb" 'BEGIN {printf "%.1f", k / 1024}')
    rows+="| $label: events/s (median of $RUNS runs, min–max; \`--stats\`), $(fmt "$events") events | \`$shown\` | $cores cores ($cpu), load avg $before before the run | $when (commit $commit) | **$(fmt "$median") events/s** ($(fmt "$lo")–$(fmt "$hi")); peak RSS $peak_mb MB |
"
}

run_eval "Security-Datasets, $rules_n corpus rules, 1 thread" 1 "$CORPUS" \
    "sigc eval --stats --threads 1 --rules ../shared/corpus/sigma/rules -- ../shared/datasets/security-datasets"
run_eval "Security-Datasets, $rules_n corpus rules, 2 threads" 2 "$CORPUS" \
    "sigc eval --stats --threads 2 --rules ../shared/corpus/sigma/rules -- ../shared/datasets/security-datasets"
peak_full=$peak_mb
load_full=$(load)
run_eval "Security-Datasets, no rules (read, unpack, parse), 1 thread" 1 "$tmp/no-rules" \
    "sigc eval --stats --threads 1 --rules EMPTY_DIR -- ../shared/datasets/security-datasets"
run_eval "Security-Datasets, no rules (read, unpack, parse), 2 threads" 2 "$tmp/no-rules" \
    "sigc eval --stats --threads 2 --rules EMPTY_DIR -- ../shared/datasets/security-datasets"

rows+="| Peak RSS, whole corpus over all of Security-Datasets, 2 threads (max of $RUNS runs, /usr/bin/time -v) | \`sigc eval --threads 2 --rules ../shared/corpus/sigma/rules -- ../shared/datasets/security-datasets\` | $cores cores ($cpu), load avg $load_full | $when (commit $commit) | **$peak_full MB** (target < 250 MB) |
"

# EVTX: one file of the regression chunks, REPS times over.
EVTX_DUMP=${EVTX_DUMP:-target/bench-tools/bin/evtx_dump}
if [ ! -x "$EVTX_DUMP" ]; then
    echo "building evtx_dump (evtx 0.15.1) into target/bench-tools ..." >&2
    cargo install evtx@0.15.1 --locked --quiet --root target/bench-tools --bin evtx_dump >&2 ||
        echo "warning: could not build evtx_dump; EVTX rows skipped" >&2
fi
if [ -x "$EVTX_DUMP" ] && command -v hyperfine > /dev/null; then
    mapfile -t evtx_files < <(find "$REGRESSION" -name '*.evtx' | sort)
    big="$tmp/regression-x$REPS.evtx"
    for f in "${evtx_files[@]}"; do tail -c +4097 "$f"; done > "$tmp/chunks"
    head -c 4096 "${evtx_files[0]}" > "$big"
    for _ in $(seq "$REPS"); do cat "$tmp/chunks" >> "$big"; done
    size_mb=$(( $(stat -c %s "$big") / 1048576 ))
    records=$("$EVTX_DUMP" -t 1 -o jsonl "$big" | wc -l)
    chunks=$(( ${#evtx_files[@]} * REPS ))
    : > "$tmp/none.json"
    before=$(load)
    hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$tmp/evtx.json" \
        -n evtx_dump "$EVTX_DUMP -t 1 -o jsonl $big > /dev/null" \
        -n parse "$BIN eval --threads 1 --rules $tmp/no-rules -- $big > /dev/null 2>&1" \
        -n corpus "$BIN eval --threads 1 --rules $CORPUS -- $big > /dev/null 2>&1" \
        -n startup "$BIN eval --threads 1 --rules $CORPUS -- $tmp/none.json > /dev/null 2>&1" >&2
    # mean and stddev (s) of each command, in order.
    mapfile -t means < <(grep '"mean"' "$tmp/evtx.json" | sed -E 's/.*: *([0-9.eE+-]+),?/\1/')
    mapfile -t sds < <(grep '"stddev"' "$tmp/evtx.json" | sed -E 's/.*: *([0-9.eE+-]+),?/\1/')
    ms() { awk -v m="$1" 'BEGIN {printf "%.0f", m * 1000}'; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
    eps() { awk -v n="$records" -v m="$1" 'BEGIN {printf "%.0f", n / m}'; }
    less() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.9f", a - b}'; }
    matching=$(less "${means[2]}" "${means[3]}")
    what="EVTX, $records records in $chunks chunks ($size_mb MB: the $(( ${#evtx_files[@]} )) regression .evtx files x $REPS), 1 thread (hyperfine mean ± sd, $RUNS runs)"
    machine="$cores cores ($cpu), load avg $before before the run"
    rows+="| $what: the evtx crate alone | \`evtx_dump -t 1 -o jsonl FILE > /dev/null\` (evtx 0.15.1) | $machine | $when (commit $commit) | **$(ms "${means[0]}") ms** ± $(ms "${sds[0]}") ms ($(fmt "$(eps "${means[0]}")") records/s) |
| $what: sigc, no rules | \`sigc eval --threads 1 --rules EMPTY_DIR -- FILE\` | $machine | $when (commit $commit) | **$(ms "${means[1]}") ms** ± $(ms "${sds[1]}") ms: **$(ratio "${means[1]}" "${means[0]}")x** the evtx crate (target ≤ 1.5x) |
| $what: sigc, $rules_n corpus rules | \`sigc eval --threads 1 --rules ../shared/corpus/sigma/rules -- FILE\` | $machine | $when (commit $commit) | **$(ms "${means[2]}") ms** ± $(ms "${sds[2]}") ms: **$(ratio "${means[2]}" "${means[0]}")x** the evtx crate; less the $(ms "${means[3]}") ms of loading and compiling the corpus (the same command on an empty file): $(ms "$matching") ms, **$(ratio "$matching" "${means[0]}")x** |
"
else
    echo "warning: evtx_dump or hyperfine missing; EVTX rows skipped" >&2
fi

printf '%s' "$rows"
if [ "$APPEND" = 1 ]; then
    printf '%s' "$rows" >> BENCHMARKS.md
    echo "appended to BENCHMARKS.md" >&2
fi
