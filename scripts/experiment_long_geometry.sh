#!/usr/bin/env bash
# Experiment (docs/small-model.md, "a longer geometry stage"): VGGT's geometry stage continued for 15 epochs over every
# training scene, its held-out geometry beside its initialisation and the camera never moving (the recipe's geometry
# check; the shipped stage's is in recipe.json), then the position stage and the QA stage on it, the QA stage's blind
# twin, and both scored on the held-out questions. About 100 min on two cores. Needs the small recipe's folder with
# its scenes and stages 1-3 (python -m spacemind_ros.train.small_recipe --out runs/small). Writes runs/small/exp-geo.
#   bash scripts/experiment_long_geometry.sh [RUNS]      # RUNS: the recipe's folder (default runs/small)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-runs/small}
E=$R/exp-geo
scenes() { echo "{format: scenes, path: $R/scenes/$1.jsonl}"; }
train() { .venv/bin/spacemind-train "$@" output.progress_bar=false output.tensorboard=false; }
done_in() { [ -f "$1/final/spacemind_config.json" ]; }

done_in "$E/1-geometry" || train --config config/train/small-1-geometry.yaml model.init_from="$R/1-geometry/final" \
  "data.train=[$(scenes train)]" train.epochs=15 train.eval_every=90 \
  output.dir="$E/1-geometry"
# The recipe's geometry check (recipe.json's geometry) on the longer-trained VGGT.
.venv/bin/python - "$R" <<'EOF'
import json, sys
from pathlib import Path
from spacemind_ros.train.small_recipe import geometry_check
runs = Path(sys.argv[1])
scores = geometry_check(runs / "exp-geo", runs / "scenes/heldout.jsonl", 20)
(runs / "exp-geo/geometry.json").write_text(json.dumps(scores, indent=1) + "\n")
print(json.dumps(scores, indent=1))
EOF

# Stages 2 and 3 leave VGGT untouched: their output with the longer-trained VGGT is what they give after it.
if [ ! -d "$E/3-category/final" ]; then
  mkdir -p "$E/3-category"
  cp -r "$R/3-category/final" "$E/3-category/final.tmp"
  rm -rf "$E/3-category/final.tmp/trainer_state" "$E/3-category/final.tmp/vggt"
  cp -r "$E/1-geometry/final/vggt" "$E/3-category/final.tmp/vggt"
  mv "$E/3-category/final.tmp" "$E/3-category/final"
fi
done_in "$E/4-position" || train --config config/train/small-position.yaml model.init_from="$E/3-category/final" \
  "data.train=[$(scenes train)]" "data.eval=[$(scenes heldout)]" train.epochs=4 output.dir="$E/4-position"

# The QA stage and its blind twin side by side, a core each.
qa() {
  OMP_NUM_THREADS=1 train --config config/train/small-4-qa.yaml model.init_from="$E/4-position/final" \
    "data.train=[$(scenes train), $(scenes routes_train), $(scenes inventory_train)]" \
    "data.eval=[$(scenes heldout)]" train.encoder_cache="$R/encoder_cache" "$@"
}
pids=()
done_in "$E/5-qa" || { qa output.dir="$E/5-qa" & pids+=($!); }
done_in "$E/5-qa-blind" || { qa data.blank_frames=true output.dir="$E/5-qa-blind" & pids+=($!); }
for pid in "${pids[@]}"; do wait "$pid"; done
for run in 5-qa 5-qa-blind; do
  .venv/bin/spacemind-eval run --questions "$R/scenes/heldout.jsonl" --model "$E/$run/final" --frames 8 \
    --out "$E/eval/$run" --prior-from "$R/scenes/train.jsonl" --quiet
done
