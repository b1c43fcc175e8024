#!/usr/bin/env bash
# Recognise one image: scripts/predict.sh [IMAGE] [URL]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-$here/samples/digit-7.png}"
url="${2:-${DIGITS_URL:-http://127.0.0.1:8000}}"
curl -sS --fail-with-body -F "file=@${image}" "$url/predict"
echo
