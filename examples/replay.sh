#!/usr/bin/env bash
# Capture a seeded run with chaos to NDJSON, then replay it deterministically through a fresh
# emulator, stream and consumer. Same seed, same bytes: the results are the same on every run.
set -euo pipefail
out=${1:-replay-out}
mkdir -p "$out"
pipeline produce iot --devices 100 --minutes 20 --seed 42 --duplicates 0.02 --late 0.01 \
  --malformed 0.01 --to-file "$out/records.ndjson" --truth "$out/truth.jsonl"
pipeline emulator --port 4599 & emulator=$!
trap 'kill $emulator' EXIT
export PIPELINE_AWS_ENDPOINT_URL=http://127.0.0.1:4599
sleep 2
pipeline provision
pipeline produce iot --devices 100 --minutes 20 --seed 42 --duplicates 0.02 --late 0.01 \
  --malformed 0.01 --end-of-stream --truth "$out/sent.jsonl"
grep -v '"control"' "$out/sent.jsonl" | cmp - "$out/truth.jsonl" && echo "the stream got exactly the captured records"
pipeline consume --until-end-of-stream
curl -s -X POST "$PIPELINE_AWS_ENDPOINT_URL/_emulator/firehose/flush"; echo
pipeline report --out "$out/reports"
