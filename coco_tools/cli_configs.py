"""The command lines of the COCO JSON tools, one typed config per script (see utils/config.py):
merge_coco_and_imagenet.py, tools/check_coco_json.py, tools/convert_to_cls_agnostic.py and the COCO* scripts
(COCO*/utils/compute_category_stats.py, generate_mask_for_extra_coco_labels.py,
merge_extra_labels_with_original.py). Output locations come from utils/runtime_config.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coco_tools.sam_masks import SAM_CHECKPOINT_URLS
from utils.config import option
from utils.runtime_config import runtime_option

COCO_STAR_STATS = Path(__file__).resolve().parents[1] / "COCO*" / "category_stats.json"


@dataclass(frozen=True)
class MergeCocoImagenetConfig:
    """merge_coco_and_imagenet.py."""

    coco_annotations_training_format_path: str = option(
        None, "post_process.py output on COCO train2017 (selected_training_annotations.json)", required=True)
    imagenet_annotations_training_format_path: str = option(
        None, "VoteCut COCO-style JSON of ImageNet train (scores in 'weight')", required=True)
    min_weight: float = option(0.5, "keep VoteCut annotations with weight >= this", min=0, max=1)
    output_path: str | None = runtime_option(
        "output_path", "default: <coco dir>/merged_with_imagenet/COCO_merged_IN_training_format.json")
    overwrite: bool = option(False, "replace an existing output file")


@dataclass(frozen=True)
class CheckCocoConfig:
    """tools/check_coco_json.py."""

    json_files: list[str] = option([], "COCO dataset JSON file(s)", positional=True)
    tolerance: float = option(1.0, "pixels a box/polygon may exceed the image border (default 1.0)", min=0)
    skip_rle_counts: bool = option(False, "do not validate RLE run lengths (faster on huge files)")
    max_print: int = option(0, "print at most this many defects per file (0: all)", min=0)


@dataclass(frozen=True)
class ClassAgnosticConfig:
    """tools/convert_to_cls_agnostic.py."""

    input: str = option(None, "COCO-style instance annotation JSON", required=True)
    output_path: str | None = runtime_option(
        "output_path", "default: <input stem>_cls_agnostic.json next to the input", aliases=("--output",))
    drop_crowd: bool = option(False, "remove iscrowd=1 annotations (default: keep)")


@dataclass(frozen=True)
class CategoryStatsConfig:
    """COCO*/utils/compute_category_stats.py."""

    labels: str = option(None, "extra labels COCO JSON (with or without masks)", required=True)
    output_path: str = runtime_option("output_path", "default: COCO*/category_stats.json",
                                      default=str(COCO_STAR_STATS), aliases=("--out",))


@dataclass(frozen=True)
class MergeExtraLabelsConfig:
    """COCO*/utils/merge_extra_labels_with_original.py."""

    original: str = option(None, "COCO instances_val2017.json", required=True)
    extra: str = option(None, "extra labels with masks (output of generate_mask_for_extra_coco_labels.py)",
                        required=True)
    output_path: str = runtime_option("output_path", "the merged JSON (default: COCO_star_val2017.json)",
                                      default="COCO_star_val2017.json", aliases=("--out",))


@dataclass(frozen=True)
class SamMasksConfig:
    """COCO*/utils/generate_mask_for_extra_coco_labels.py."""

    boxes: str = option(None, "VIA JSON (1.x/2.x export or project, 3.x project) or COCO JSON with boxes",
                        required=True)
    image_dir: str = option(None, "folder of the images (e.g. COCO val2017)", required=True)
    sam_checkpoint: str = option(None, "SAM weights, e.g. sam_vit_h_4b8939.pth", required=True)
    model_type: str | None = option(None, "SAM type; default: read from the checkpoint file name",
                                    choices=sorted(SAM_CHECKPOINT_URLS))
    output_path: str | None = runtime_option(
        "output_path", "the COCO JSON with masks (default: <boxes stem>_with_mask.json)", aliases=("--out",))
    reference: str | None = option(
        None, "COCO JSON (instances_val2017.json) giving VIA images their ids/sizes and category names their "
        "ids")
    category_attribute: str = option(
        "category", "VIA region attribute holding the category name (default: category)")
    device: str | None = runtime_option("device", "default: cuda when available")
    box_batch: int = option(64, "boxes prompted together per forward pass", min=1)


@dataclass(frozen=True)
class PostProcessConfig:
    """post_process.py (besides the PseudoLabelThresholds, added after `pred_annotations_path`)."""

    pred_annotations_path: str = option(
        None, "object_scoring.py output (object_discovery_with_scores.json)", required=True)
    gt_annotations: str | None = option(
        None, "COCO JSON whose 'images' become the training image list (the class-agnostic GT of the split)")
    dataset: str | None = option(None, "named split instead of --gt_annotations: COCO or synthetic")
    split: str = option("test", "with --dataset: test (val) or train")
    data_root: str | None = option(
        None, "root of --dataset (COCO: $DETECTRON2_DATASETS or data/; synthetic: its synthetic/ folder)")
    output_path: str | None = runtime_option(
        "output_path", "default: selected_training_annotations.json next to --pred_annotations_path")
