#!/usr/bin/env bash
# Render the HTML report of the example night and photograph it with
# headless Chromium, to see (and let CI check) that the page stands alone
# and shows its timeline.
#
#   scripts/report-screenshot.sh BIN OUTDIR
#
# BIN is a built runbook binary, OUTDIR receives report.html and
# report.png. Chromium runs with a fresh profile, no network (every name
# resolves to nothing) and without its background services. CHROMIUM
# names another binary. Exits 1 when the screenshot is missing or blank.
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BIN OUTDIR" >&2
	exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$2
chromium=${CHROMIUM:-chromium}
if ! command -v "$chromium" >/dev/null; then
	echo "report-screenshot: $chromium is not installed; apt-get install chromium" >&2
	exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/runbook-report-shot.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$bin" init "$work/night" >/dev/null
(
	cd "$work/night"
	"$bin" start --version 1.0.0 --yes --signoff QA="Li Na" --signoff DBA="Wang Li" >/dev/null
	"$bin" report --format html -o "$out/report.html"
)

rm -f "$out/report.png"
# The flags keep Chromium from phoning home; the resolver rule makes any
# request the page might still make fail instead of leaving the machine.
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
	--disable-component-update --disable-sync --no-first-run --disable-quic \
	--user-data-dir="$work/profile" --host-resolver-rules="MAP * ~NOTFOUND" \
	--hide-scrollbars --window-size=1280,1600 --screenshot="$out/report.png" \
	"file://$out/report.html" >"$work/chromium.log" 2>&1 || {
	cat "$work/chromium.log" >&2
	echo "report-screenshot: chromium failed" >&2
	exit 1
}

size=$(stat -c %s "$out/report.png" 2>/dev/null || echo 0)
magic=$(head -c 8 "$out/report.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')
# A blank 1280x1600 page compresses to a few KiB; the report is far more.
if [[ $magic != 89504e470d0a1a0a || $size -lt 30000 ]]; then
	echo "report-screenshot: $out/report.png is missing or blank ($size bytes)" >&2
	exit 1
fi
echo "report-screenshot: $out/report.png ($size bytes) from $out/report.html"
