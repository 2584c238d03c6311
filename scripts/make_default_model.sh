#!/usr/bin/env bash
# Trains the shipped default model's recipe (models/zoo/realecho_v2.onnx) from scratch on a
# CPU, into WORK_DIR/zoo/ (the shipped file is left alone: use the new one with --model, or
# copy it into models/zoo/ to make it the default): simulate the training data (the realistic
# simulator), train configs/realecho.yaml (MobileNet v1 0.25 from ImageNet weights, sim-to-real
# augmentation), export (fp32 only: an int8 copy of the shipped model moved real-dev
# probabilities by up to 0.29 and lost 2 of 5 A4C items), evaluate on a freshly simulated test
# set with a seed it never saw and, where it is beside the repository, on the real dev set, and
# write the model card.
#
#   bash scripts/make_default_model.sh [WORK_DIR]     (about 20 minutes on 2 CPU cores)
#
# Steps whose output is already in WORK_DIR (a simulated set with its simulation.json) are
# not run again. The data and length are those the recipe was chosen with on the real dev
# set (docs/real-echo.md): a larger set trained longer fitted the simulator better and real
# echo worse. Training is deterministic, but the recipe is fragile on real echo: today's code
# gives a model with 8/18 real-dev items, training seeds 1 and 2 give 6/18; the shipped weights
# (11/18) came from this recipe at commit c494f35, whose sector detector cropped a few percent of
# the simulated training cines differently (docs/real-echo.md).
#
# All training data is SIMULATED (echostream simulate); the model has never seen a real patient.
# The ImageNet weights are read in place from ../shared/weights (never copied into the repo).
set -euo pipefail
work=${1:-data}
repo="$(cd "$(dirname "$0")/.." && pwd)"
zoo="$work/zoo"
name=realecho_v2
real_dev="$repo/../shared/real-dev"
mkdir -p "$work" "$zoo"

train_data="$work/sim_train_s201"
test_data="$work/sim_test_s2"
[ -f "$train_data/simulation.json" ] || echostream simulate --out "$train_data" --patients 96 \
    --seed 201 --frames-per-cine 8 --scale 0.5 --workers 2
[ -f "$test_data/simulation.json" ] || echostream simulate --out "$test_data" --patients 40 \
    --seed 2 --scale 0.5 --workers 2

echostream train "$repo/configs/realecho.yaml" --data "$train_data" --scale ship \
    --out "$work/runs/$name"
cp "$work/runs/$name/final.pt" "$zoo/$name.pt"
echostream export "$zoo/$name.pt" --out "$zoo/$name.onnx" --model-version real-v2
echostream evaluate "$zoo/$name.onnx" --data "$test_data" --split all \
    --out "$work/runs/$name/eval_sim_test_s2"
real=()
if [ -f "$real_dev/labels.csv" ]; then
    echostream evaluate "$zoo/$name.onnx" --data "$real_dev" --out "$work/runs/$name/eval_real_dev"
    real=(--real-eval "$work/runs/$name/eval_real_dev")
fi
echostream model-card "$zoo/$name.onnx" \
    --metrics "$work/runs/$name/eval_sim_test_s2/metrics.json" \
    --train-data "$train_data" --test-data "$test_data" "${real[@]}"
