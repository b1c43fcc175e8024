#!/usr/bin/env bash
# Show the served model's id, architecture, preprocessing and accuracy: scripts/model.sh
set -euo pipefail
url="${DIGITS_URL:-http://127.0.0.1:8000}"
curl -sS --fail-with-body "$url/model"
echo
