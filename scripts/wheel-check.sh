#!/usr/bin/env bash
# Build the wheel, install it (not editable, with its dependencies) into a fresh venv, and use it
# from an empty folder: `pmf demo` must run a whole quarter and `pmf serve` must serve a page and
# its stylesheet. An editable install reads files straight from the checkout; this catches any
# the wheel leaves out (workflows/ and policies/ bundled at pmf_engine/_bundled/, templates,
# static files, migrations).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== building the wheel, in a fresh venv"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip wheel -q --no-deps -w "$work/dist" .
wheel=$(echo "$work"/dist/pmf_engine-*.whl)

echo "== installing $(basename "$wheel") into that venv (not editable, with its dependencies)"
"$work/venv/bin/python" -m pip install -q "$wheel"
pmf="$work/venv/bin/pmf"

mkdir "$work/empty"
cd "$work/empty"
echo "== pmf demo, from an empty folder"
"$pmf" --help >/dev/null
"$pmf" demo >demo.log 2>&1 || { cat demo.log; echo "!! pmf demo failed with the installed wheel" >&2; exit 1; }
tail -n 3 demo.log

echo "== pmf serve, from the same folder"
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$pmf" --db sqlite:///pmf-demo.db serve --no-worker --port "$port" >serve.log 2>&1 &
server=$!
for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/sign-in" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
done
for path in /sign-in /static/pmf.css /static/govuk/govuk-frontend.css; do
    curl -fsS -o /dev/null "http://127.0.0.1:$port$path" \
        || { cat serve.log; echo "!! GET $path failed with the installed wheel" >&2; exit 1; }
done
echo "wheel check passed: $(basename "$wheel")"
