#!/usr/bin/env bash
# The rule-repository benchmarks behind BENCHMARKS.md (release build, wall time with hyperfine):
#   1. `sigc build` of the whole SigmaHQ corpus to SPL, tstats, KQL (Defender), Spark SQL and
#      bytecode, with the tree already up to date; `sigc build --check` the same; against the
#      four `sigc convert` commands plus the bytecode file, one after the other, as before.
#   2. `sigc diff` of a one-value change to one rule of the bundled pack, with a baseline of
#      100,356 events (the Security-Datasets lateral-movement archives but the three largest).
# Needs ../shared beside the checkout and hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
sigc=$PWD/target/release/sigc
shared=$(cd ../shared && pwd)
corpus=$shared/corpus/sigma/rules
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "commit $(git rev-parse --short HEAD), $(date -u), load avg $(cut -d' ' -f1 /proc/loadavg)"

mkdir -p "$work/corpus"
cat > "$work/corpus/sigc.yml" <<YAML
rules: ['$corpus']
output: out
outputs:
  splunk: {target: splunk, pipelines: [sysmon, splunk_windows]}
  tstats: {target: splunk, format: tstats, pipelines: [splunk_cim]}
  defender: {target: kql, pipelines: [microsoft_xdr]}
  spark: {target: spark}
  bytecode: {target: bytecode}
YAML
"$sigc" build -q -C "$work/corpus"
separate="$sigc convert -t splunk -p sysmon -p splunk_windows $corpus >/dev/null 2>&1;"
separate+=" $sigc convert -t splunk -f tstats -p splunk_cim $corpus >/dev/null 2>&1;"
separate+=" $sigc convert -t kql -p microsoft_xdr $corpus >/dev/null 2>&1;"
separate+=" $sigc convert -t spark $corpus >/dev/null 2>&1;"
separate+=" $sigc convert -t bytecode -o $work/rules.sigcb $corpus >/dev/null 2>&1; true"
# hyperfine's mean, and the median (the machine is shared: the median resists a busy run).
median() {
    python3 -c "import json,sys; [print(f\"{r['command']}: median {r['median']*1000:.0f} ms\") for r in json.load(open(sys.argv[1]))['results']]" "$1"
}
hyperfine -N --warmup 3 --runs 30 --style basic --export-json "$work/build.json" \
    -n build "$sigc build -q -C $work/corpus" \
    -n check "$sigc build -q --check -C $work/corpus"
median "$work/build.json"
hyperfine --warmup 1 --runs 10 --style basic --export-json "$work/converts.json" \
    -n "five converts" "$separate"
median "$work/converts.json"
/usr/bin/time -f "build peak RSS %M KB" "$sigc" build -q -C "$work/corpus"

# 2. sigc diff over a 100,356-event baseline.
repo=$work/repo
mkdir -p "$repo"
cp -r rules "$repo/rules"
rm -rf "$repo/rules/generated"
host=$shared/datasets/security-datasets/atomic/windows/lateral_movement/host
{
    sed '/^baseline:/,$d' rules/sigc.yml
    echo "baseline:"
    echo "  samples: 3"
    echo "  events:"
    for f in "$host"/*; do
        case "$(basename "$f")" in
        purplesharp_ad_playbook_I.zip | empire_dcom_shellwindows_stager.zip | covenant_dcom_iertutil_dll_hijack.zip) ;;
        *) echo "    - '$f'" ;;
        esac
    done
} > "$repo/rules/sigc.yml"
git -C "$repo" init -q -b main
git -C "$repo" add .
git -C "$repo" -c user.name=b -c user.email=b@b commit -q -m base
rule=$repo/rules/windows/process_creation/proc_creation_win_wsmprovhost_session_process.yml
sed -i "s/ParentImage|endswith: '\\\\wsmprovhost.exe'/ParentImage|endswith: '\\\\wsmprovhost2.exe'/" "$rule"
git -C "$repo" diff --stat
"$sigc" diff --base main -C "$repo/rules" | head -3
hyperfine -N --warmup 2 --runs 15 --style basic --export-json "$work/diff.json" \
    -n diff "$sigc diff --base main -C $repo/rules"
median "$work/diff.json"
