#!/usr/bin/env bash
# Start a training job on the server (`make serve`): scripts/train.sh [JSON_BODY] [URL]
#   scripts/train.sh                                    # mlp, 3 epochs on 5,000 images: seconds
#   scripts/train.sh '{"arch": "cnn", "epochs": 2}'     # any body /docs describes for POST /train
# Token: $DIGITS_ADMIN_TOKEN, else the one the server generated in ${DIGITS_STATE_DIR:-state}/admin-token.
# curl reads it from stdin, so it never shows on a command line. Follow the job with watch_training.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
default_body='{"arch": "mlp", "epochs": 3, "learning_rate": 0.001, "train_limit": 5000}'
body="${1:-$default_body}"
url="${2:-${DIGITS_URL:-http://127.0.0.1:8000}}"
token="${DIGITS_ADMIN_TOKEN:-}"
if [[ -z "$token" ]]; then
    token_file="${DIGITS_STATE_DIR:-$here/../state}/admin-token"
    if [[ ! -r "$token_file" ]]; then
        echo "no admin token: set DIGITS_ADMIN_TOKEN, or start the server so that it writes $token_file" >&2
        exit 1
    fi
    token="$(<"$token_file")"
fi
printf 'Authorization: Bearer %s\n' "$token" |
    curl -sS --fail-with-body -i -H @- -H 'Content-Type: application/json' --data "$body" "$url/train"
echo
