#!/usr/bin/env bash
# The evaluations issues 23 and 24 still need, one after another, each resumable (finished runs are
# read back from the store, the rest is run; stop it at any time and run it again):
#   1. main:  MATH-500, first 40 problems, the second evaluation's methods (issue 23)
#   2. tools: GSM8K, first 60 problems, the single pass, sc:4 and PDR 4,4 with and without the python
#      tool (the runs without the tool of 1-36 ran again: their first store was lost on 2026-12-02)
#   3. tools: MATH-500, first 40, the same
# Usage: bash docs/eval/second/continue.sh [STORE]   (default main.sqlite, made from the committed
# snapshot when it does not exist). One llama.cpp server at a time on a small machine: run nothing
# else that serves a model meanwhile. Each step refreshes the committed snapshot when it finishes; after
# an interruption: pdr eval --report /tmp/r --db STORE --name main --snapshot docs/eval/second/main.sqlite.gz
# The evaluation's own runs used a native llama-server: export PDR_LLAMA_SERVER=/path/to/llama-server
# PDR_LLAMA_SERVER_ARGS=--no-repack first (README, "Speed on a CPU"); the default runtime serves the
# same weights, reading prompts about 2.3 times slower.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
store=${1:-main.sqlite}
snapshot="$here/main.sqlite.gz"
[ -f "$store" ] || gunzip -c "$snapshot" > "$store"

MAIN="sc:8,single,sc:4,sc:6,sc:7,pdr:4-4:majority_k,pdr:4-1:majority_k,pdr:4-4:majority_k:early_stop=1"
MAIN="$MAIN,pdr:4-4:majority_k:early_stop=0.75,sr:3:early_stop=1,sc:4-4:early_stop=1"
T=":tools=python:tool_format=fenced"
TOOLS="single,sc:4,pdr:4-4:majority_k:early_stop=1,single$T,sc:4$T,pdr:4-4:majority_k:early_stop=1$T"
common=(--max-tokens 1024 --concurrency 2 --db "$store" --paired --snapshot "$snapshot")

pdr eval --dataset math500 --limit 40 --methods "$MAIN" --name main "${common[@]}"
pdr eval --dataset gsm8k --limit 60 --methods "$TOOLS" --name tools "${common[@]}"
pdr eval --dataset math500 --limit 40 --methods "$TOOLS" --name tools "${common[@]}"
python "$here/tools.py" "$store"
