#!/usr/bin/env bash
# The README's first command (`make demo`) runs this: Lamina's main job end to end on data that needs no
# download. Synthetic users in latent clusters -> DSSTNE text -> split -> netCDF -> train -> predict -> evaluate.
set -euo pipefail
out=${1:-.demo}
lamina=".venv/bin/lamina"
rm -rf "$out" && mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. Validate the shipped example configs"
"$lamina" config validate examples/configs/*.json

step "2. Synthesize 4,000 users x 2,000 items in 16 latent clusters (DSSTNE text format)"
"$lamina" data synth --samples 4000 --features 2000 --nnz 30 --clusters 16 --zipf 1.0 --seed 7 -o "$out/ratings.txt"
head -c 200 "$out/ratings.txt"; echo " ..."

step "3. Hold out 20% of each user's items (the evaluation protocol of anchors section 2)"
"$lamina" data split "$out/ratings.txt" --train "$out/train.txt" --test "$out/test.txt" --holdout-fraction 0.2 --seed 7

step "4. Convert to DSSTNE netCDF-4 files (same sample index, so rows line up)"
"$lamina" generate-netcdf -d gl_input  -i "$out/train.txt" -o "$out/gl_input.nc"  -f "$out/features_input"  -s "$out/samples_input" -c
"$lamina" generate-netcdf -d gl_output -i "$out/train.txt" -o "$out/gl_output.nc" -f "$out/features_output" -s "$out/samples_input" -c
"$lamina" generate-netcdf -d gl_output -i "$out/test.txt"  -o "$out/heldout.nc"   -f "$out/features_output" -s "$out/samples_input"
"$lamina" data info "$out/gl_input.nc"

step "5. Summarize the network the config describes for these widths"
"$lamina" model summary examples/configs/autoencoder.json --width gl_input=2048 --width gl_output=2048

step "6. Train (DSSTNE's train flags; optimizer and learning rate from the config's TrainingParameters)"
"$lamina" train -c examples/configs/autoencoder.json -i "$out/gl_input.nc" -o "$out/gl_output.nc" \
    -n "$out/gl.nc" -e 8 --threads 1 --logdir "$out/runs" --no-progress

step "7. Predict the top 10 for every user, filtering out what they already have (DSSTNE's predict)"
"$lamina" predict -b 256 -d gl -i "$out/features_input" -o "$out/features_output" -k 10 -n "$out/gl.nc" \
    -f "$out/train.txt" -s "$out/recs.txt" -r "$out/train.txt"
head -n 3 "$out/recs.txt"

step "8. Evaluate on the held-out items against a popularity ranking"
"$lamina" evaluate -n "$out/gl.nc" -i "$out/gl_input.nc" -t "$out/heldout.nc" -k 10,20,50 --baselines popularity
