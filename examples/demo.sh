#!/usr/bin/env bash
# The README's first command (`make demo`) runs this: Lamina's main job end to end on data that needs no download.
set -euo pipefail
out=${1:-.demo}
lamina=".venv/bin/lamina"
mkdir -p "$out"

echo "== 1. Validate the shipped example configs"
"$lamina" config validate examples/configs/*.json

echo
echo "== 2. Build the autoencoder for a 26,752-wide catalogue (ML-20M sized) and summarize it"
"$lamina" model summary examples/configs/autoencoder.json --width gl_input=26752 --width gl_output=26752
