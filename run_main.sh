#!/usr/bin/env bash
# The main job on the embedded default: the whole unMORE pipeline on synthetic data, on a CPU.
#   1. synthetic data: single-object images (ImageNet/VoteCut layout) and multi-object scenes with GT
#   2. stage 1: center/boundary network and existence network (EfficientNet-Lite0 from the ImageNet weights
#      that a pip package ships), held-out evaluation against trivial baselines
#   3. stage 2: multi-object reasoning + scoring with the trained networks on the train and val scenes
#   4. post-processing into pseudo labels of the train scenes, merged with the VoteCut labels (the recipe)
#   5. the class-agnostic detector trained on those pseudo labels (DropLoss, soft targets, copy-paste), and the
#      same detector trained on the ground-truth masks of the train scenes (supervised upper bound)
#   6. one table on the val scenes (+ the oracle-field upper bound of the reasoning) and overlays
# Everything lands in $OUT (outputs/main) and $DATA (data/synthetic_main). DEVICE=cuda bash run_main.sh runs on
# a GPU; the sizes below can be overridden from the environment (the test suite runs a tiny version).
set -euo pipefail
cd "$(dirname "$0")"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then python -m pip install --quiet -r requirements.txt; fi

DEVICE=${DEVICE:-cpu}
# Independent steps run side by side (two lanes), each with half the cores; the last step gets them all.
HALF=$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$HALF}
OUT=${OUT:-outputs/main}
DATA=${DATA:-data/synthetic_main}
TRAIN_SCENES=${TRAIN_SCENES:-40}
VAL_SCENES=${VAL_SCENES:-24}
CB_ITERS=${CB_ITERS:-800}         # center/boundary network iterations (batch 16, 64x64 crops)
EX_ITERS=${EX_ITERS:-150}         # existence network iterations (batch 32)
CAD_ITERS=${CAD_ITERS:-200}       # detector iterations (batch 4), both detectors
SINGLE_PER_CLASS=${SINGLE_PER_CLASS:-40}   # single-object images per class (8 classes) for stage 1
HELDOUT_PER_CLASS=${HELDOUT_PER_CLASS:-8}
SEED=${SEED:-0}                   # training seed of both stage-1 networks and both detectors (data: seed 0)
CAD_CFG=cad/model_zoo/configs/tiny/cascade_mask_rcnn_effnet_lite0_FPN_cpu.yaml
SCENES=$DATA/scenes
TRAIN_GT=$SCENES/annotations/train_cls_agnostic.json
VAL_GT=$SCENES/annotations/val_cls_agnostic.json
VOTECUT=$DATA/imagenet/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json
HELDOUT=$DATA/imagenet_heldout
CB=$OUT/center_boundary/checkpoint_last.pth
EX=$OUT/existence/checkpoint_last.pth
NETS=(--objectness_resume "$CB" --binary_classifier_resume "$EX" --device "$DEVICE")
rm -rf "$OUT" && mkdir -p "$OUT"   # a fresh run: stale discoveries of older networks must not be resumed

# both F G runs the shell functions F and G at once and fails if either fails.
both() {
    "$1" & local first=$!
    "$2" & local second=$!
    local status=0
    wait "$first" || status=$?
    wait "$second" || status=$?
    return "$status"
}

center_boundary_network() {
    python train_objectness_net.py --train_center_and_boundary --imagenet_root "$DATA/imagenet" \
        --backbone_type efficientnet_lite0 --backbone_weights packaged --crop_size 64 --batch_size 16 \
        --optimizer adam --learning_rate 1e-3 --lr_milestones $((CB_ITERS * 3 / 4)) --lr_scheduler_gamma 0.1 \
        --max_iters "$CB_ITERS" --sdf_loss_type l1 --center_field_loss_type l2 --use_sdf_binary_mask_loss \
        --use_sdf_gradient_loss --sdf_activation tanh --use_bg_sdf --num_workers 1 --log_interval 50 \
        --ckpt_interval 200 --vis_interval "$CB_ITERS" --no_progress --device "$DEVICE" --seed "$SEED" \
        --output_dir "$OUT/center_boundary"
    python eval_objectness_net.py --imagenet_root "$HELDOUT" --device "$DEVICE" --checkpoint "$CB" \
        --output_path "$OUT/heldout_center_boundary.json"
}

existence_network() {
    python train_objectness_net.py --train_existence --existence_arch efficientnet_lite0 \
        --backbone_weights packaged --imagenet_root "$DATA/imagenet" --votecut_json "$VOTECUT" --crop_size 64 \
        --batch_size 32 --optimizer adam --learning_rate 1e-3 --max_iters "$EX_ITERS" --num_workers 1 \
        --log_interval 25 --ckpt_interval 100 --vis_interval "$EX_ITERS" --no_progress --device "$DEVICE" \
        --seed "$SEED" \
        --output_dir "$OUT/existence"
    python eval_objectness_net.py --imagenet_root "$HELDOUT" --device "$DEVICE" --checkpoint "$EX" \
        --votecut_json "$HELDOUT/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json" \
        --output_path "$OUT/heldout_existence.json"
}

discover() {  # discover SPLIT [networks...]: reasoning + scoring of one scene split -> $OUT/reasoning_<name>
    local split=$1 name=$2
    shift 2
    local ann="$SCENES/annotations/${split}_cls_agnostic.json"
    python object_reasoning.py "$@" --analyze_cc --image_dir "$SCENES/$split" --annotations "$ann" \
        --output_dir "$OUT/reasoning_$name"
    python object_scoring.py "$@" --image_dir "$SCENES/$split" --annotations "$ann" \
        --raw_annotations_path "$OUT/reasoning_$name/discovery_results.json"
}
discover_train() { discover train train "${NETS[@]}"; }
discover_val() { discover val val "${NETS[@]}"; }

CAD_OPTS=(SOLVER.MAX_ITER "$CAD_ITERS" SOLVER.STEPS "($((CAD_ITERS * 4 / 5)),)" SOLVER.CHECKPOINT_PERIOD "$CAD_ITERS"
          MODEL.DEVICE "$DEVICE" SEED "$SEED")  # a fixed seed: the same detectors on every run
detector_on_pseudo_labels() {
    python cad/train_net.py --config_file "$CAD_CFG" --train-json "$OUT/pseudo_labels_merged.json" \
        --train-image-root "$SCENES/train" --train-imagenet-root "$DATA/imagenet/train" --coco-repeat 5 \
        --test-json "$VAL_GT" --test-image-root "$SCENES/val" "${CAD_OPTS[@]}" OUTPUT_DIR "$OUT/detector_pseudo"
}
detector_on_gt_masks() {
    python cad/train_net.py --config_file "$CAD_CFG" --train-json "$TRAIN_GT" --train-image-root "$SCENES/train" \
        --test-json "$VAL_GT" --test-image-root "$SCENES/val" "${CAD_OPTS[@]}" OUTPUT_DIR "$OUT/detector_gt"
}

echo "== 1/6 synthetic data -> $DATA"
python tools/make_synthetic_data.py --output_dir "$DATA" --seed 0 --images_per_class "$SINGLE_PER_CLASS" \
    --heldout_images_per_class "$HELDOUT_PER_CLASS" --train_scenes "$TRAIN_SCENES" --val_scenes "$VAL_SCENES"

echo "== 2/6 stage 1: center/boundary and existence networks (EfficientNet-Lite0, ImageNet init), held-out check"
echo "   (second lane: existence network, then the oracle-field reasoning and the detector on GT masks)"
second_lane() {
    existence_network
    discover val oracle_val --oracle_annotations "$VAL_GT"
    detector_on_gt_masks
}
second_lane & SECOND_LANE=$!
center_boundary_network
while [ ! -f "$OUT/heldout_existence.json" ]; do  # the existence network finishes long before
    kill -0 "$SECOND_LANE" 2>/dev/null || { wait "$SECOND_LANE"; echo "existence network failed"; exit 1; }
    sleep 2
done

echo "== 3/6 stage 2: reasoning + scoring with the trained networks (train and val scenes)"
both discover_train discover_val

echo "== 4/6 pseudo labels of the train scenes, merged with the VoteCut labels of the single-object images"
python post_process.py --pred_annotations_path "$OUT/reasoning_train/object_discovery_with_scores.json" \
    --existence_score_thres 0.5 --center_score_thres 0.8 --boundary_score_thres 0.75 --gt_annotations "$TRAIN_GT"
python merge_coco_and_imagenet.py \
    --coco_annotations_training_format_path "$OUT/reasoning_train/selected_training_annotations.json" \
    --imagenet_annotations_training_format_path "$VOTECUT" --output_path "$OUT/pseudo_labels_merged.json"

echo "== 5/6 class-agnostic detector on the pseudo labels (and, in the second lane, on the GT masks)"
if kill -0 "$SECOND_LANE" 2>/dev/null; then
    detector_on_pseudo_labels
else  # the second lane is done: this last step gets every core
    OMP_NUM_THREADS=$((HALF * 2)) detector_on_pseudo_labels
fi
wait "$SECOND_LANE"

echo "== 6/6 class-agnostic AP on the $VAL_SCENES val scenes"
python tools/main_job_report.py --gt_annotations "$VAL_GT" --image_dir "$SCENES/val" --output_dir "$OUT" \
    --row "discoveries, oracle fields=$OUT/reasoning_oracle_val/object_discovery_with_scores.json" \
    --row "discoveries, trained networks=$OUT/reasoning_val/object_discovery_with_scores.json" \
    --row "detector on pseudo labels=$OUT/detector_pseudo/inference/coco_instances_results.json" \
    --row "detector on GT masks=$OUT/detector_gt/inference/coco_instances_results.json" \
    --stage1 "$OUT/heldout_center_boundary.json" --stage1 "$OUT/heldout_existence.json" \
    --pseudo_labels "$OUT/reasoning_train/selected_training_annotations.json"
echo "Done. Table: $OUT/main_results.md; overlays: $OUT/overlays; stage-1 curves and field pictures:"
echo "$OUT/center_boundary, $OUT/existence; detectors: $OUT/detector_pseudo, $OUT/detector_gt."
