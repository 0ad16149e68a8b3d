#!/usr/bin/env bash
# Every test sigc has, from a fresh clone: installs what the tests need, then runs them.
# CI runs exactly this (.ci/run). Reference data is read from ../shared beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/corpus/sigma/rules ]; then
    echo "error: ../shared (the SigmaHQ corpus and datasets) must sit beside this checkout" >&2
    exit 1
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
