#!/usr/bin/env bash
# Rebuild pmf_engine/interfaces/web/static/govuk/ from the govuk-frontend package on the npm registry.
# The CSS is compiled with Arial instead of GDS Transport (a typeface only GOV.UK services may
# use) and without @font-face rules, so nothing is fetched and no font files are shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-5.14.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack -q "govuk-frontend@$VERSION" >/dev/null && tar xzf govuk-frontend-*.tgz \
    && npm install -q --no-audit --no-fund sass@1 >/dev/null)
cp scripts/govuk-frontend.scss "$work/pmf.scss"
(cd "$work" && npx sass --style=compressed --no-source-map --quiet-deps --silence-deprecation=import \
    pmf.scss pmf.css)
out=pmf_engine/interfaces/web/static/govuk
mkdir -p "$out"
cp "$work/pmf.css" "$out/govuk-frontend.css"
cp "$work/package/dist/govuk/govuk-frontend.min.js" "$out/"
echo "govuk-frontend $VERSION (MIT licence) built into $out"
