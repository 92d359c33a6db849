#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then lint, type-check and run them all.
# PostgreSQL: the test session starts its own server from the installed binaries (initdb,
# pg_ctl); this script installs Debian's postgresql package when they are missing.
# Arguments go to pytest: `scripts/test.sh -m "not slow"` is the quick local loop, without the
# fault, kill -9, multi-process race, soak and browser tests (marked slow); CI runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."

have_postgres() {
    command -v pg_ctl >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}
if ! have_postgres; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing PostgreSQL server binaries"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "!! PostgreSQL binaries not found; the PostgreSQL tests will be skipped (CI fails instead)" >&2
    fi
fi

# The PDF report needs Pango and HarfBuzz (WeasyPrint); a test converts a spreadsheet with
# LibreOffice; the browser tests drive Chromium.
missing=()
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || missing+=(libharfbuzz-subset0)
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-calc-nogui)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the browser tests drive Debian's Chromium
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "!! missing ${missing[*]}: the PDF and LibreOffice tests will be skipped (CI fails instead)" >&2
    fi
fi

# axe-core (accessibility rules injected into each page by the browser tests), from npm.
if [ ! -f .cache/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then
    echo "== fetching axe-core from the npm registry"
    mkdir -p .cache
    (cd .cache && npm pack -q axe-core@4 >/dev/null && tar xzf axe-core-*.tgz && rm -rf axe-core \
        && mv package axe-core && rm -f axe-core-*.tgz)
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "== installing pmf-engine with its test extra"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff"
.venv/bin/ruff check pmf_engine tests benchmarks
.venv/bin/ruff format --check pmf_engine tests benchmarks
echo "== import contracts and cycles (lint-imports; [tool.importlinter] in pyproject.toml)"
.venv/bin/lint-imports --no-cache --no-logo
echo "== mypy (strict)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
