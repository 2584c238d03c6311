#!/usr/bin/env bash
# Trains the shipped default model, realecho_v4, from scratch on a CPU into WORK_DIR/zoo/ (the
# shipped files are left alone: use the new one with --model). The recipe is
# configs/realecho.yaml: MobileNet v1 0.5 from ImageNet weights at 160×200, sim-to-real
# augmentation, outlier exposure on the simulator's OTHER cines. Steps: simulate the training
# data (seed 201, with OTHER cines) and two test sets (seeds 3 and 5, with OTHER), train at the
# `ship` scale (10 epochs), export (fp32 only: an int8 copy of an earlier default moved
# real-dev probabilities by up to 0.29; no temperature: one fitted on simulated data made the
# real dev set's calibration worse, README "Confidence"), build the Mahalanobis unknown-view
# gate into the file (class means from the training data, threshold rejecting 1 % of seed 3's
# known-view frames: at 2 % the gate cost 1.6 points of known-view accuracy on seed 3, over
# issue 17's limit of 1), evaluate on the fresh seed 5 and, where it is beside the repository, on
# the real dev set, and write the model card.
#
#   bash scripts/make_default_model.sh [WORK_DIR]     (28 minutes end to end on 2 CPU cores,
#                                                      2026-12-01: the same weights as the
#                                                      shipped file, bit for bit)
#
# Steps whose output is already in WORK_DIR (a simulated set with its simulation.json) are
# not run again. realecho_v4 is this recipe's run at training seed 0 (the best on the real dev
# set of seeds 0-2: 12, 11, 7 of 18 items) on the simulator of commit 6006355
# (models/zoo/realecho_v4.md); a CPU run repeats to the last digit on one machine, not
# necessarily on another CPU.
#
# All training data is SIMULATED (echostream simulate); the model has never seen a real patient.
# The ImageNet weights are read in place from ../shared/weights (never copied into the repo).
set -euo pipefail
work=${1:-data}
repo="$(cd "$(dirname "$0")/.." && pwd)"
zoo="$work/zoo"
name=realecho_v4
views=PLAX,SAXMID,SAXBASAL,A5C,A4C,A3C,A2C,SUB4C,OTHER
real_dev="$repo/../shared/real-dev"
mkdir -p "$work" "$zoo"

train_data="$work/sim_train_s201_other"
[ -f "$train_data/simulation.json" ] || echostream simulate --out "$train_data" --patients 96 \
    --seed 201 --frames-per-cine 8 --scale 0.5 --workers 2 --views "$views"
for seed in 3 5; do
    [ -f "$work/sim_test_s$seed/simulation.json" ] || echostream simulate \
        --out "$work/sim_test_s$seed" --patients 40 --seed "$seed" --frames-per-cine 16 \
        --scale 0.5 --workers 2 --views "$views"
done

echostream train "$repo/configs/realecho.yaml" --data "$train_data" --scale ship \
    --out "$work/runs/$name"
cp "$work/runs/$name/final.pt" "$zoo/$name.pt"
echostream export "$zoo/$name.pt" --out "$zoo/$name.onnx" --model-version real-v4
echostream calibrate "$zoo/$name.onnx" --unknown --score mahalanobis --fit "$train_data" \
    --data "$work/sim_test_s3" --split all --target 0.01
echostream evaluate "$zoo/$name.onnx" --data "$work/sim_test_s5" --split all \
    --out "$work/runs/$name/eval_sim_test_s5"
real=()
if [ -f "$real_dev/labels.csv" ]; then
    echostream evaluate "$zoo/$name.onnx" --data "$real_dev" --out "$work/runs/$name/eval_real_dev"
    real=(--real-eval "$work/runs/$name/eval_real_dev")
fi
echostream model-card "$zoo/$name.onnx" \
    --metrics "$work/runs/$name/eval_sim_test_s5/metrics.json" \
    --train-data "$train_data" --test-data "$work/sim_test_s5" "${real[@]}"
