#!/usr/bin/env bash
# The dashboard's charting library (uPlot, MIT), installed from the npm registry at the version
# scripts/vendor-dashboard/package-lock.json pins, and its built files copied into the Python
# package (server/api/dashboard/vendor/), so that the page works offline with no build step
# for users. Run after changing the pinned version; the copied files are committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$here/../server/api/dashboard/vendor"
cd "$here/vendor-dashboard"
npm ci --silent --ignore-scripts
mkdir -p "$target"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$target/"
cp node_modules/uplot/LICENSE "$target/uPlot.LICENSE"
rm -rf node_modules
echo "copied uPlot $(node -p 'require("./package-lock.json").packages["node_modules/uplot"].version') into $target"
