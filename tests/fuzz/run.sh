#!/bin/sh
# Runs one libFuzzer target for a fixed number of inputs, starting from the committed
# seed corpus (read only: new inputs go to a scratch directory that is removed).
# A crash leaves its input in ARTIFACTS (libFuzzer prints it as base64 as well).
# Usage: run.sh TARGET SEED_CORPUS RUNS MAX_LEN ARTIFACTS
set -eu
target=$1 seeds=$2 runs=$3 max_len=$4 artifacts=$5
scratch=$(mktemp -d /tmp/drfwd-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
"$target" -runs="$runs" -seed=1 -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$scratch" "$seeds"
