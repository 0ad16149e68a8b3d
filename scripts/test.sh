#!/usr/bin/env bash
# Every test sigc has, from a fresh clone: installs what the tests need, then runs them.
# CI runs exactly this (.ci/run). Reference data is read from ../shared beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/corpus/sigma/rules ]; then
    echo "error: ../shared (the SigmaHQ corpus and datasets) must sit beside this checkout" >&2
    exit 1
fi

# --quick: the everyday loop, without Python, npm or Java: formatting, clippy and every debug
# test (the contentctl, Kusto and Spark checks skip when their tools are not set up; SIGC_QUICK
# tells the Kusto one to).
if [ "${1:-}" = "--quick" ]; then
    cargo fmt --all -- --check
    cargo clippy --all-targets --locked -- -D warnings
    exec env -u SIGC_CONTENTCTL -u SIGC_SPARK_PYTHON SIGC_QUICK=1 cargo test --all-targets --locked
fi

# Splunk's contentctl (PyPI), for tests/splunk.rs: `contentctl validate` must accept the
# security_content output for the bundled rules. A pinned version (its detection schema changes
# between releases) in a venv under target/, installed once; it validates offline.
CONTENTCTL_VERSION=5.6.2
venv=target/contentctl-venv
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('contentctl') != '$CONTENTCTL_VERSION')" 2>/dev/null; then
    python=""
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null; then
            python=$candidate
            break
        fi
    done
    if [ -z "$python" ]; then
        echo "error: contentctl $CONTENTCTL_VERSION needs Python 3.11 to 3.13" >&2
        exit 1
    fi
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "contentctl==$CONTENTCTL_VERSION"
fi
# The test fails rather than skips when this is set and contentctl does not run.
export SIGC_CONTENTCTL="$PWD/$venv/bin/contentctl"

# Microsoft's Kusto language service (npm), for tests/kql_validate.rs.
scripts/setup-kusto.sh

# PySpark (PyPI), for tests/spark_engine.rs; the test fails rather than skips without it.
scripts/setup-spark.sh
export SIGC_SPARK_PYTHON="$PWD/target/spark-venv/bin/python"

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
# The heavy engine tests (every corpus rule over every event, every query through the Kusto
# analyser and through Spark) take minutes in a debug build and are ignored there: they run
# here, in release.
cargo test --release --locked --test splunk_exactness --test kql_validate --test kql_exactness \
    --test spark_engine
