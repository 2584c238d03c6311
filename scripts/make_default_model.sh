#!/usr/bin/env bash
# Reproduces the shipped default model models/zoo/baseline_sim_v1.onnx (+ its int8 copy):
# simulate the training data, train the thesis baseline (Adam, no flips), export fp32 + int8,
# and evaluate it on a freshly simulated dataset with a seed it never saw.
#
#   bash scripts/make_default_model.sh [WORK_DIR]      (minutes on a GPU machine; hours on a 2-core CPU)
#
# All data is SIMULATED (echostream simulate); the model has never seen a real patient.
set -euo pipefail
work=${1:-data}
zoo="$(dirname "$0")/../models/zoo"
mkdir -p "$work" "$zoo"

echostream simulate --out "$work/sim_train_s1" --patients 240 --seed 1 --frames-per-cine 12 --workers 2
echostream simulate --out "$work/sim_test_s2" --patients 40 --seed 2 --workers 2

echostream train configs/exp1_baseline_adam.yaml --data "$work/sim_train_s1" --scale ship \
    --out "$work/runs/baseline_sim_v1"
cp "$work/runs/baseline_sim_v1/final.pt" "$zoo/baseline_sim_v1.pt"
echostream export "$zoo/baseline_sim_v1.pt" --out "$zoo/baseline_sim_v1.onnx" \
    --int8 --calibration "$work/sim_train_s1" --model-version sim-v1
echostream evaluate "$zoo/baseline_sim_v1.pt" --data "$work/sim_test_s2" --split all \
    --out "$work/runs/baseline_sim_v1/eval_sim_test_s2"
echostream model-card "$zoo/baseline_sim_v1.onnx" \
    --metrics "$work/runs/baseline_sim_v1/eval_sim_test_s2/metrics.json" \
    --train-data "$work/sim_train_s1" --test-data "$work/sim_test_s2"
