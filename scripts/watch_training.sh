#!/usr/bin/env bash
# Follow a training job live, one Server-Sent Event per epoch and an `end` event with the outcome:
#   scripts/watch_training.sh [JOB_ID] [URL]     # default: the newest job
# Reading needs no token. The curves so far are at URL/train/JOB_ID/plot.png.
set -euo pipefail
job="${1:-}"
url="${2:-${DIGITS_URL:-http://127.0.0.1:8000}}"
if [[ -z "$job" ]]; then
    # A job's own id is its first field, so the first "id" of the newest job is the one.
    job="$(curl -sS --fail-with-body "$url/train?limit=1" | grep -o '"id":"[^"]*"' | head -n 1 | cut -d '"' -f 4)" || true
    if [[ -z "$job" ]]; then
        echo "no training jobs yet: start one with scripts/train.sh" >&2
        exit 1
    fi
fi
echo "following job $job (curves: $url/train/$job/plot.png)" >&2
curl -sS --fail-with-body -N "$url/train/$job/events"
