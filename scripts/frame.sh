#!/usr/bin/env bash
# Save the 28x28 image the model sees for IMAGE (enlarged 10x) to OUT (default: a file in /tmp, so
# that nothing lands in the repository):
#   scripts/frame.sh IMAGE [OUT.png] [auto|mnist|raw]
set -euo pipefail
image="${1:?usage: scripts/frame.sh IMAGE [OUT.png] [auto|mnist|raw]}"
out="${2:-${TMPDIR:-/tmp}/digits-frame.png}"
mode="${3:-auto}"
url="${DIGITS_URL:-http://127.0.0.1:8000}"
curl -sS --fail-with-body -F "file=@${image}" -o "$out" "$url/predict/frame?preprocess=${mode}&scale=10"
echo "wrote $out"
