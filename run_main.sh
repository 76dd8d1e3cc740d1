#!/usr/bin/env bash
# The main job on the embedded default: installs the requirements, generates the synthetic data, trains both
# stage-1 networks with a small backbone on CPU, runs multi-object reasoning, scoring and post-processing on the
# synthetic validation scenes, and prints the class-agnostic AP table (plus the oracle's upper bound).
# Everything lands in outputs/main/ and data/synthetic_main/. Choose the device with the DEVICE variable,
# e.g. DEVICE=cuda bash run_main.sh.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet -r requirements.txt

DEVICE=${DEVICE:-cpu}
OUT=outputs/main
DATA=data/synthetic_main
VAL_GT=$DATA/scenes/annotations/val_cls_agnostic.json
VAL_IMAGES=$DATA/scenes/val
VOTECUT=$DATA/imagenet/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json
rm -rf "$OUT" && mkdir -p "$OUT"   # a fresh run: stale discoveries of older networks must not be resumed

echo "== 1/7 synthetic data -> $DATA"
python utils/make_synthetic_data.py --out "$DATA" --seed 0 --val_scenes 6   # 6 validation scenes keep the CPU job short

echo "== 2/7 stage 1: center and boundary network (resnet18 backbone)"
python train_objectness_net.py --train_center_and_boundary --imagenet_root "$DATA/imagenet" \
    --backbone_type resnet18 --image_size 128 --batch_size 8 --optimizer adam --learning_rate 1e-3 \
    --lr_milestones 250 --lr_scheduler_gamma 0.1 --max_iters 350 \
    --sdf_loss_type l1 --center_field_loss_type l2 --use_sdf_binary_mask_loss --use_sdf_gradient_loss \
    --sdf_activation tanh --use_bg_sdf --num_workers 1 --log_interval 25 --ckpt_interval 100 --vis_interval 175 \
    --device "$DEVICE" --output_dir "$OUT/center_boundary"

echo "== 3/7 stage 1: existence network (resnet18)"
python train_objectness_net.py --train_existence --existence_arch resnet18 --imagenet_root "$DATA/imagenet" \
    --votecut_json "$VOTECUT" --image_size 128 --batch_size 16 --optimizer adam --learning_rate 1e-3 \
    --max_iters 150 --num_workers 1 --log_interval 25 --ckpt_interval 75 --device "$DEVICE" \
    --output_dir "$OUT/existence"

echo "== 4/7 stage 1: held-out evaluation against a zero predictor"
python eval_objectness_net.py --imagenet_root "$DATA/imagenet_heldout" --image_size 128 --device "$DEVICE" \
    --checkpoint "$OUT/center_boundary/checkpoint_latest.pth" --output_json "$OUT/heldout_center_boundary.json"
python eval_objectness_net.py --imagenet_root "$DATA/imagenet_heldout" --image_size 128 --device "$DEVICE" \
    --votecut_json "$DATA/imagenet_heldout/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json" \
    --checkpoint "$OUT/existence/checkpoint_latest.pth" --output_json "$OUT/heldout_existence.json"

echo "== 5/7 stage 2: multi-object reasoning and scoring on the validation scenes"
python object_reasoning.py --sdf_activation tanh --use_bg_sdf --analyze_cc \
    --objectness_resume "$OUT/center_boundary/checkpoint_latest.pth" \
    --binary_classifier_resume "$OUT/existence/checkpoint_latest.pth" \
    --image_dir "$VAL_IMAGES" --annotations "$VAL_GT" --device "$DEVICE" \
    --output_dir "$OUT/reasoning" --vis_dir "$OUT/reasoning/vis"
python object_scoring.py --sdf_activation tanh --use_bg_sdf \
    --objectness_resume "$OUT/center_boundary/checkpoint_latest.pth" \
    --binary_classifier_resume "$OUT/existence/checkpoint_latest.pth" \
    --image_dir "$VAL_IMAGES" --annotations "$VAL_GT" --device "$DEVICE" \
    --raw_annotations_path "$OUT/reasoning/discovery_results.json"

echo "== 6/7 post-processing into detector pseudo labels"
python post_process.py --pred_annotations_path "$OUT/reasoning/object_discovery_with_scores.json" \
    --existence_score_thres 0.5 --center_score_thres 0.8 --boundary_score_thres 0.75 --gt_annotations "$VAL_GT"

echo "== 7/7 evaluation (class-agnostic COCO AP of the scored discoveries)"
echo "   (networks trained for a few CPU minutes from random initialisation rarely reach the released networks'"
echo "    boundary-field peak of 0.5 (--max_sdf_thres), so expect few or no discoveries here; see the oracle below)"
python COCO_evaluator/main.py --gt_annotations "$VAL_GT" \
    --pred_annotations "$OUT/reasoning/object_discovery_with_scores.json" --output_dir "$OUT/eval_trained"

echo "== upper bound: the same reasoning with oracle fields computed from the ground-truth masks"
python object_reasoning.py --oracle_annotations "$VAL_GT" --analyze_cc --image_dir "$VAL_IMAGES" \
    --annotations "$VAL_GT" --output_dir "$OUT/reasoning_oracle"
python object_scoring.py --oracle_annotations "$VAL_GT" --image_dir "$VAL_IMAGES" --annotations "$VAL_GT" \
    --raw_annotations_path "$OUT/reasoning_oracle/discovery_results.json"
python COCO_evaluator/main.py --gt_annotations "$VAL_GT" \
    --pred_annotations "$OUT/reasoning_oracle/object_discovery_with_scores.json" --output_dir "$OUT/eval_oracle"

echo "Done. Checkpoints, loss curves and field pictures: $OUT/center_boundary, $OUT/existence;"
echo "overlays: $OUT/reasoning/vis; AP: $OUT/eval_trained/ap_score.json (oracle: $OUT/eval_oracle/ap_score.json)."
