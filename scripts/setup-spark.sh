#!/usr/bin/env bash
# PySpark from PyPI for tests/spark_engine.rs (Java 17 must be on the machine): a pinned version
# in a venv under target/, installed once.
set -euo pipefail
cd "$(dirname "$0")/.."
PYSPARK_VERSION=4.0.1
venv=target/spark-venv
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pyspark') != '$PYSPARK_VERSION')" 2>/dev/null; then
    if ! command -v java >/dev/null; then
        echo "error: PySpark needs Java 17 or later on PATH" >&2
        exit 1
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
fi
