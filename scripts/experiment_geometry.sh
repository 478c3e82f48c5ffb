#!/usr/bin/env bash
# Experiment (docs/small-model.md): VGGT's geometry stage continued from the small recipe's with the given overrides
# (config/train/small-1-geometry.yaml's options), its held-out geometry on views spread over the walk and on views
# close in time (a quarter of the walk), beside its initialisation and the camera never moving; then the QA stage on it
# (after the position stage when POSITION_STAGE=1) and the QA stage's blind twin from the same folder, side by side
# on a core each, both scored on the held-out questions. Needs the small recipe's folder with its scenes and stages
# 1-3 (python -m spacemind_ros.train.small_recipe --out runs/small). Writes RUNS/NAME; a rerun skips finished stages.
#   bash scripts/experiment_geometry.sh RUNS NAME [OVERRIDE...]
# The longer geometry stage (about 100 min on two cores):
#   POSITION_STAGE=1 bash scripts/experiment_geometry.sh runs/small exp-geo train.epochs=15 train.eval_every=90
# Close views first, widening to the whole walk (about 100 min):
#   bash scripts/experiment_geometry.sh runs/small exp-curr train.epochs=15 train.geometry_span_from=0.25
# GEOMETRY_ONLY=1 stops after the geometry check.
# SCENES=FOLDER (in RUNS, default scenes) trains and scores on other scenes of the same seeds, e.g. steady walks
# (spacemind-scenes generate ... --walk steady --out RUNS/scenes-steady, the recipe's other settings); the stages it
# starts from (RUNS/1-geometry, RUNS/3-category) are still the recipe's.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 8p "$0"; exit 2; }
R=$1
E=$R/$2
S=$R/${SCENES:-scenes}
shift 2
scenes() { echo "{format: scenes, path: $S/$1.jsonl}"; }
train() { .venv/bin/spacemind-train "$@" output.progress_bar=false output.tensorboard=false; }
done_in() { [ -f "$1/final/spacemind_config.json" ]; }

done_in "$E/1-geometry" || train --config config/train/small-1-geometry.yaml model.init_from="$R/1-geometry/final" \
  "data.train=[$(scenes train)]" "data.eval=[$(scenes heldout)]" output.dir="$E/1-geometry" "$@"
# The recipe's geometry check (recipe.json's geometry) on the new VGGT, on spread and on close views.
.venv/bin/python - "$S" "$E" <<'EOF'
import json, sys
from pathlib import Path
from spacemind_ros.train.small_recipe import geometry_check
scenes, out = Path(sys.argv[1]), Path(sys.argv[2])
scores = {f"span {span}": geometry_check(out, scenes / "heldout.jsonl", 20, span, scenes / "train.jsonl")
          for span in (1.0, 0.25)}
(out / "geometry.json").write_text(json.dumps(scores, indent=1) + "\n")
print(json.dumps(scores, indent=1))
EOF
if [ "${GEOMETRY_ONLY:-0}" = 1 ]; then exit 0; fi

# Stages 2 and 3 leave VGGT untouched: their output with the new VGGT is what they give after it.
if [ ! -d "$E/3-category/final" ]; then
  mkdir -p "$E/3-category"
  rm -rf "$E/3-category/final.tmp"  # left by an interrupted run
  cp -r "$R/3-category/final" "$E/3-category/final.tmp"
  rm -rf "$E/3-category/final.tmp/trainer_state" "$E/3-category/final.tmp/vggt"
  cp -r "$E/1-geometry/final/vggt" "$E/3-category/final.tmp/vggt"
  mv "$E/3-category/final.tmp" "$E/3-category/final"
fi
start=$E/3-category/final
if [ "${POSITION_STAGE:-0}" = 1 ]; then
  done_in "$E/4-position" || train --config config/train/small-position.yaml model.init_from="$start" \
    "data.train=[$(scenes train)]" "data.eval=[$(scenes heldout)]" train.epochs=4 output.dir="$E/4-position"
  start=$E/4-position/final
fi

qa() {
  OMP_NUM_THREADS=1 train --config config/train/small-4-qa.yaml model.init_from="$start" \
    "data.train=[$(scenes train), $(scenes routes_train), $(scenes inventory_train)]" \
    "data.eval=[$(scenes heldout)]" train.encoder_cache="$R/encoder_cache" "$@"
}
pids=()
done_in "$E/5-qa" || { qa output.dir="$E/5-qa" & pids+=($!); }
done_in "$E/5-qa-blind" || { qa data.blank_frames=true output.dir="$E/5-qa-blind" & pids+=($!); }
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done  # both finish before a failure stops the script
[ "$failed" = 0 ]
for run in 5-qa 5-qa-blind; do
  .venv/bin/spacemind-eval run --questions "$S/heldout.jsonl" --model "$E/$run/final" --frames 8 \
    --out "$E/eval/$run" --prior-from "$S/train.jsonl" --quiet
done
