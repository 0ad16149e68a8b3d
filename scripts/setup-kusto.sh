#!/usr/bin/env bash
# Installs what the KQL validation test (tests/kql_validate.rs) needs: Microsoft's Kusto language
# service, @kusto/language-service-next from the npm registry, into tests/kusto/node_modules with
# `npm ci` from the committed package-lock.json. Idempotent: does nothing (in milliseconds) when
# node_modules already holds what the lock file names.
set -euo pipefail
cd "$(dirname "$0")/../tests/kusto"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is not installed; the KQL validation needs Node.js 18 or later and npm" >&2
        exit 1
    fi
done

stamp=node_modules/.sigc-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -f node_modules/@kusto/language-service-next/Kusto.Language.Bridge.min.js ]; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
echo "setup-kusto: installed @kusto/language-service-next in tests/kusto/node_modules"
