#!/usr/bin/env bash
# Spark benchmark and full comparison, outside CI: the whole corpus as one `pyspark_job` (one
# scan) against the same rules as per-rule SELECTs (tests/spark/driver.py), over the same
# events on local Spark, and the job's matches against `sigc eval` over the same events.
#   EVERY=1 (default) uses every Security-Datasets event (~678,000) and the regression events;
#   EVERY=N keeps every Nth dataset event (and the first of each archive), as tests/spark_engine.rs
#   does with N=6.
#   PER_RULE=0 skips the per-rule SELECTs (over every event they take far longer than the job).
# Needs scripts/setup-spark.sh. Prints the figures; add them to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVERY=${EVERY:-1}
PER_RULE=${PER_RULE:-1}
scripts/setup-spark.sh
PY=$PWD/target/spark-venv/bin/python
cargo build --release --locked --quiet
BIN=$PWD/target/release/sigc
RULES=(../shared/corpus/sigma/rules rules)
RULE_ARGS=()
for r in "${RULES[@]}"; do RULE_ARGS+=(--rules "$r"); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$BIN" eval "${RULE_ARGS[@]}" --fields ../shared/corpus/sigma/regression_data > "$tmp/events.jsonl" 2>/dev/null || true
"$BIN" eval "${RULE_ARGS[@]}" --fields ../shared/datasets 2>/dev/null |
    awk -v every="$EVERY" '{ match($0, /"sigc_source":"[^"]*"/); s = substr($0, RSTART, RLENGTH) }
        (NR - 1) % every == 0 || s != last { print } { last = s }' >> "$tmp/events.jsonl" || true
events=$(wc -l < "$tmp/events.jsonl")
"$BIN" convert -t spark -f pyspark_job "${RULES[@]}" -o "$tmp/job.py" 2>/dev/null || true
"$BIN" convert -t spark --json "${RULES[@]}" 2>/dev/null |
    "$PY" -c 'import sys, json
for l in sys.stdin:
    d = json.loads(l)
    if "query" in d: print(json.dumps({"key": d.get("id") or d["title"], "query": d["query"]}))' > "$tmp/queries.jsonl" || true  # sigc exits 1: some rules are refused

start=$(date +%s.%N)
PYSPARK_SUBMIT_ARGS="--driver-memory 6g pyspark-shell" "$PY" "$tmp/job.py" --input "$tmp/events.jsonl" --output "$tmp/job_out" > /dev/null 2>&1
job=$(echo "$(date +%s.%N) - $start" | bc)
per_rule=skipped
: > "$tmp/selected.jsonl"
if [ "$PER_RULE" != 0 ]; then
    start=$(date +%s.%N)
    PYSPARK_SUBMIT_ARGS="--driver-memory 6g pyspark-shell" "$PY" tests/spark/driver.py select "$tmp/queries.jsonl" "$tmp/events.jsonl" "$tmp/selected.jsonl" > /dev/null 2>&1
    per_rule="$(echo "$(date +%s.%N) - $start" | bc) s"
fi

"$BIN" eval "${RULE_ARGS[@]}" -- ../shared/corpus/sigma/regression_data ../shared/datasets > "$tmp/eval.jsonl" 2>/dev/null || true
"$PY" - "$tmp" <<'PY'
import glob, json, sys
tmp = sys.argv[1]
keys = set()
for l in open(tmp + "/events.jsonl"):
    d = json.loads(l); keys.add((d["sigc_source"], int(d["sigc_index"])))
ev = set()
for l in open(tmp + "/eval.jsonl"):
    d = json.loads(l)
    if (d["source"], int(d["record"])) in keys: ev.add((d["rule_id"], d["source"], int(d["record"])))
job = set()
for f in glob.glob(tmp + "/job_out/*.json"):
    for l in open(f):
        d = json.loads(l); job.add((d["rule_id"], d["sigc_source"], int(d["sigc_index"])))
sel = set()
for l in open(tmp + "/selected.jsonl"):
    d = json.loads(l); sel.add((d["key"], d["source"], int(d["index"])))
print("matches: sigc eval %d, one-scan job %d, per-rule SELECTs %d" % (len(ev), len(job), len(sel)))
print("disagreements: job vs eval %d" % len(ev ^ job))
if sel:
    print("disagreements: per-rule vs job %d" % len(sel ^ job))
PY
echo "events: $events; one-scan job: ${job} s; per-rule SELECTs (batched 50 per query): ${per_rule}"
echo "machine: $(nproc) cores, load avg $(cut -d' ' -f1 /proc/loadavg); $(date)"
