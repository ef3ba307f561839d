#!/usr/bin/env bash
# Add the two example bert-classifier versions to models/ with `modelreg add`, from the files
# `python scripts/build_example_models.py` writes to build/examples/. Every number in their
# metadata (hashes, signature, accuracy, F1, latency) is measured by this run.
#
#   scripts/add_example_models.sh           # refuses if a version directory exists
#   scripts/add_example_models.sh --replace # re-adds both (e.g. to re-measure latency); only
#                                           # for versions that were never released (tagged)
set -euo pipefail
cd "$(dirname "$0")/.."
built=build/examples
[[ -f $built/eval.npz ]] || { echo "run: python scripts/build_example_models.py" >&2; exit 2; }
if [[ ${1:-} == --replace ]]; then
  for v in 1.0.0 1.1.0; do
    if git rev-parse -q --verify "refs/tags/model-bert-v$v" >/dev/null; then
      echo "model-bert-v$v is released; add a new version instead" >&2
      exit 1
    fi
    rm -rf "models/bert-classifier/$v"
  done
fi
common=(--eval "$built/eval.npz" --dataset-name sentiment-analysis)
describe='Synthetic English review sentences from scripts/build_example_models.py (seed 20240611): '
modelreg add bert-classifier 1.0.0 --onnx "$built/bert-classifier-1.0.0.onnx" "${common[@]}" \
  --dataset-version 1.0 --dataset-samples 6000 \
  --dataset-description "${describe}raw base set with markup debris and 5% flipped labels." \
  --date 2024-01-15 --summary "First production release of the sentiment classifier." \
  --change "Initial release"
modelreg add bert-classifier 1.1.0 --onnx "$built/bert-classifier-1.1.0.onnx" "${common[@]}" \
  --dataset-version 1.1 --dataset-samples 9000 \
  --dataset-description "${describe}cleaned base set plus synonym swaps and extra negation/contrast templates." \
  --date 2024-01-22 --summary "Data augmentation and improved preprocessing." \
  --change "Data augmentation" --change "Improved preprocessing" \
  --migration "Drop-in replacement for v1.0.0"
