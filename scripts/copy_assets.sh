#!/usr/bin/env bash
# Copy the pinned front-end dist files from node_modules/ into app/static/vendor/
# (git-ignored; the app serves them itself, never from a CDN).
# Called by `./dev.sh setup` after `npm ci`; safe to run again at any time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NM="$ROOT/node_modules"
DEST="$ROOT/app/static/vendor"
TMP="$ROOT/app/static/.vendor.tmp.$$"

die() { echo "copy_assets: ERROR: $*" >&2; exit 1; }

[ -d "$NM" ] || die "node_modules/ is missing: run 'npm ci' (or ./dev.sh setup) first"

need() {  # need SRC: the source must exist in node_modules
  [ -e "$NM/$1" ] || die "node_modules/$1 not found (package not installed or its layout changed; run 'npm ci')"
}

trap 'rm -rf "$TMP"' EXIT
rm -rf "$TMP"
mkdir -p "$TMP"/{bootstrap,bootstrap-icons,htmx,bpmn-js,echarts}

# name SRC (relative to node_modules) -> DST (relative to vendor/)
copy() {
  need "$1"
  cp -R "$NM/$1" "$TMP/$2"
}

copy bootstrap/dist/css/bootstrap.min.css            bootstrap/bootstrap.min.css
copy bootstrap/dist/js/bootstrap.bundle.min.js       bootstrap/bootstrap.bundle.min.js
copy bootstrap-icons/font/bootstrap-icons.min.css    bootstrap-icons/bootstrap-icons.min.css
copy bootstrap-icons/font/fonts                      bootstrap-icons/fonts
copy htmx.org/dist/htmx.min.js                       htmx/htmx.min.js
copy bpmn-js/dist/bpmn-navigated-viewer.production.min.js bpmn-js/bpmn-navigated-viewer.production.min.js
copy bpmn-js/dist/bpmn-viewer.production.min.js      bpmn-js/bpmn-viewer.production.min.js
copy bpmn-js/dist/bpmn-modeler.production.min.js     bpmn-js/bpmn-modeler.production.min.js
copy bpmn-js/dist/assets                             bpmn-js/assets
copy echarts/dist/echarts.min.js                     echarts/echarts.min.js

# Record the versions actually copied (handy for an "about" page and bug reports).
{
  echo "{"
  first=1
  for pkg in bootstrap bootstrap-icons htmx.org bpmn-js echarts; do
    ver="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$NM/$pkg/package.json" | head -n1)"
    [ -n "$ver" ] || die "cannot read the version of $pkg"
    [ $first -eq 1 ] || echo ","
    printf '  "%s": "%s"' "$pkg" "$ver"
    first=0
  done
  echo
  echo "}"
} > "$TMP/versions.json"

# Every file the templates rely on must be there before we swap it in.
for f in \
  bootstrap/bootstrap.min.css \
  bootstrap/bootstrap.bundle.min.js \
  bootstrap-icons/bootstrap-icons.min.css \
  bootstrap-icons/fonts/bootstrap-icons.woff2 \
  bootstrap-icons/fonts/bootstrap-icons.woff \
  htmx/htmx.min.js \
  bpmn-js/bpmn-navigated-viewer.production.min.js \
  bpmn-js/bpmn-modeler.production.min.js \
  bpmn-js/assets/diagram-js.css \
  bpmn-js/assets/bpmn-js.css \
  bpmn-js/assets/bpmn-font/css/bpmn.css \
  echarts/echarts.min.js \
  versions.json
do
  [ -s "$TMP/$f" ] || die "expected asset missing or empty after copy: app/static/vendor/$f"
done

# Swap the new tree in (stale files from older versions disappear).
rm -rf "$DEST.old"
[ -d "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$TMP" "$DEST"
rm -rf "$DEST.old"
trap - EXIT

echo "copy_assets: app/static/vendor/ ready ($(tr -d '\n ' < "$DEST/versions.json"))"
