#!/usr/bin/env bash
# Recognise several images in one request, one result each, in order:
#   scripts/predict_batch.sh [IMAGE...]   (default: the ten samples digit-0 .. digit-9)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="${DIGITS_URL:-http://127.0.0.1:8000}"
if [ $# -eq 0 ]; then set -- "$here"/samples/digit-{0..9}.png; fi
args=()
for image in "$@"; do args+=(-F "files=@${image}"); done
curl -sS --fail-with-body "${args[@]}" "$url/predict"
echo
