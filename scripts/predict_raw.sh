#!/usr/bin/env bash
# Send the image itself as the request body (cheaper than multipart): scripts/predict_raw.sh [PNG]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-$here/samples/digit-3.png}"
url="${DIGITS_URL:-http://127.0.0.1:8000}"
curl -sS --fail-with-body -H "Content-Type: image/png" --data-binary "@${image}" "$url/predict"
echo
