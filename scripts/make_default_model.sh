#!/usr/bin/env bash
# Reproduces the shipped default model models/zoo/realecho_v2.onnx (+ its int8 copy) on a CPU:
# simulate the training data (the realistic simulator), train configs/realecho.yaml (MobileNet
# v1 0.25 from ImageNet weights, sim-to-real augmentation), export fp32 + int8, evaluate on a
# freshly simulated test set with a seed it never saw and, where it is beside the repository,
# on the real dev set, and write the model card.
#
#   bash scripts/make_default_model.sh [WORK_DIR]     (about an hour and a half on 2 CPU cores)
#
# All training data is SIMULATED (echostream simulate); the model has never seen a real patient.
# The ImageNet weights are read in place from ../shared/weights (never copied into the repo).
set -euo pipefail
work=${1:-data}
repo="$(cd "$(dirname "$0")/.." && pwd)"
zoo="$repo/models/zoo"
name=realecho_v2
real_dev="$repo/../shared/real-dev"
mkdir -p "$work" "$zoo"

echostream simulate --out "$work/sim_train_s1" --patients 240 --seed 1 --frames-per-cine 8 \
    --scale 0.5 --workers 2
echostream simulate --out "$work/sim_test_s2" --patients 40 --seed 2 --scale 0.5 --workers 2

echostream train "$repo/configs/realecho.yaml" --data "$work/sim_train_s1" --scale ship \
    --out "$work/runs/$name"
cp "$work/runs/$name/final.pt" "$zoo/$name.pt"
echostream export "$zoo/$name.pt" --out "$zoo/$name.onnx" \
    --int8 --calibration "$work/sim_train_s1" --model-version real-v2
echostream evaluate "$zoo/$name.onnx" --data "$work/sim_test_s2" --split all \
    --out "$work/runs/$name/eval_sim_test_s2"
echostream evaluate "$zoo/$name.int8.onnx" --data "$work/sim_test_s2" --split all \
    --out "$work/runs/$name/eval_sim_test_s2_int8"
real=()
if [ -f "$real_dev/labels.csv" ]; then
    echostream evaluate "$zoo/$name.onnx" --data "$real_dev" --out "$work/runs/$name/eval_real_dev"
    real=(--real-eval "$work/runs/$name/eval_real_dev")
fi
echostream model-card "$zoo/$name.onnx" \
    --metrics "$work/runs/$name/eval_sim_test_s2/metrics.json" \
    --train-data "$work/sim_train_s1" --test-data "$work/sim_test_s2" "${real[@]}"
