"""The released artifacts of unMORE (and the third-party files its commands read): one table for the README's
"Downloads" section, `tools/check_setup.py` and the missing-file messages of the scripts.

Each `Artifact` says what it is, where it comes from, where it goes (a path under the data root `data/`, the
weights folder `weights/` or the repository) and which command reads it. `kind` tells `check_setup` how to
check it: `images` (a folder of images), `coco` (a COCO dataset JSON, its images under `images`), `results`
(a JSON list of detections/discoveries, or a COCO dict), `objectness` / `existence` (stage-1 checkpoints),
`detector` (a Detectron2-layout checkpoint), `vit` (timm ViT weights) or `file`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA, WEIGHTS, REPO = "data", "weights", "repo"  # the folder an artifact's path is relative to
README_DOWNLOADS = "README.md#downloads"  # the table these artifacts are listed in
_ONEDRIVE = "https://1drv.ms/u/c/63dc39902c38c526/"
_GDRIVE = "https://drive.google.com/uc?export=download&id="
_CUTLER = "http://dl.fbaipublicfiles.com/cutler/"
_COCO = "http://images.cocodataset.org/"


@dataclass(frozen=True)
class Artifact:
    name: str  # short name, as in the original README's links where it has one
    stage: str  # the pipeline step (or benchmark) that needs it
    what: str
    url: str  # where to download it; for files made by a command, that command
    root: str  # DATA, WEIGHTS or REPO
    path: str  # relative to `root`
    read_by: str  # the command (and flag) that reads it
    kind: str = "file"
    images: tuple[str, ...] = ()  # kind coco: image folders (under the data root) its file_names are in

    def location(self, data_root: str | Path = "data", weights_dir: str | Path = "weights",
                 repo: str | Path = ".") -> Path:
        """Where the artifact is expected on this machine."""
        base = {DATA: data_root, WEIGHTS: weights_dir, REPO: repo}[self.root]
        return Path(base) / self.path

    def shown_path(self) -> str:
        """The path as the README shows it (`data/...`, `weights/...` or a repository path)."""
        return self.path if self.root == REPO else f"{self.root}/{self.path}"


STAGE1, STAGE2, LABELS, DETECTOR, BENCH, RESULTS = (
    "stage 1", "stage 2", "pseudo labels", "detector", "benchmarks", "released results",
)
ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("imagenet_train", STAGE1, "ImageNet-1K train images", "https://image-net.org/download.php",
             DATA, "imagenet/train", "train_objectness_net.py --imagenet_root data/imagenet", "images"),
    Artifact("votecut_imagenet_train", STAGE1, "VoteCut pseudo labels of ImageNet train",
             f"{_GDRIVE}10vz02vuZV1ql1QoWmMQzSQrivsIOr7Ke", DATA,
             "imagenet/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json",
             "tools/preprocess_votecut.py --votecut_json; train_objectness_net.py --votecut_json; "
             "merge_coco_and_imagenet.py --imagenet_annotations_training_format_path", "coco",
             ("imagenet/train",)),
    Artifact("votecut_top1_masks", STAGE1, "top-1 VoteCut mask per ImageNet image (made, not downloaded)",
             "python tools/preprocess_votecut.py --votecut_json "
             "data/imagenet/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json "
             "--output_dir data/imagenet",
             DATA, "imagenet/masks_top1_single_component", "train_objectness_net.py (default --mask_root)",
             "images"),
    Artifact("vit_large_patch16_384", STAGE1, "timm ImageNet ViT-L/16-384: initial DPT-L backbone",
             "python -c \"import timm, torch; torch.save(timm.create_model('vit_large_patch16_384', "
             "pretrained=True).state_dict(), 'vit_large_patch16_384.pth')\"", WEIGHTS,
             "vit_large_patch16_384.pth", "train_objectness_net.py --backbone_type dpt_large", "vit"),
    Artifact("center_boundary_model", STAGE1, "released objectness (center + boundary) network",
             f"{_ONEDRIVE}Ec1KkVOva9RPsfXFs8pACbgBVPJnBlxWYQKoZXv1kdMbfw?e=KGoei1", WEIGHTS,
             "center_boundary_model.pth", "object_reasoning.py / object_scoring.py --objectness_resume",
             "objectness"),
    Artifact("existence_model", STAGE1, "released existence network",
             f"{_ONEDRIVE}EW21Rdlx5qZGnzKSUcbjJysBRUycLHmE-yb77QuZHgSCZQ?e=BhWjk4", WEIGHTS,
             "existence_model.pth", "object_reasoning.py / object_scoring.py --binary_classifier_resume",
             "existence"),
    Artifact("coco_val2017", STAGE2, "COCO val2017 images", f"{_COCO}zips/val2017.zip", DATA, "coco/val2017",
             "object_reasoning.py / object_scoring.py --dataset COCO --dataset_split test (the default)",
             "images"),
    Artifact("coco_train2017", STAGE2, "COCO train2017 images", f"{_COCO}zips/train2017.zip", DATA,
             "coco/train2017", "object_reasoning.py / object_scoring.py --dataset_split train", "images"),
    Artifact("coco_instances_val2017", STAGE2, "COCO 2017 annotations (in annotations_trainval2017.zip)",
             f"{_COCO}annotations/annotations_trainval2017.zip", DATA,
             "coco/annotations/instances_val2017.json",
             "tools/convert_to_cls_agnostic.py --input; cad/train_net.py (coco_2017_val)", "coco",
             ("coco/val2017",)),
    Artifact("coco_instances_train2017", STAGE2, "COCO 2017 annotations (in annotations_trainval2017.zip)",
             f"{_COCO}annotations/annotations_trainval2017.zip", DATA,
             "coco/annotations/instances_train2017.json", "tools/convert_to_cls_agnostic.py --input", "coco",
             ("coco/train2017",)),
    Artifact("coco_val", STAGE2, "class-agnostic COCO val2017 annotations",
             f"{_GDRIVE}1gABmH0nAHDsZzFaC5X0t9k9FLoBbJdwb",
             DATA, "coco/annotations/coco_cls_agnostic_instances_val2017.json",
             "object_reasoning.py (--dataset_split test); COCO_evaluator/main.py --gt_annotations; "
             "cad/train_net.py (cls_agnostic_coco)", "coco", ("coco/val2017",)),
    Artifact("coco_cls_agnostic_train2017", LABELS, "class-agnostic COCO train2017 annotations (made)",
             "python tools/convert_to_cls_agnostic.py --input data/coco/annotations/instances_train2017.json "
             "--output_path data/coco/annotations/coco_cls_agnostic_instances_train2017.json", DATA,
             "coco/annotations/coco_cls_agnostic_instances_train2017.json",
             "object_reasoning.py --dataset_split train; post_process.py --dataset COCO --split train",
             "coco",
             ("coco/train2017",)),
    Artifact("unMORE_disc_coco_train17", LABELS, "released unMORE discoveries on COCO train2017",
             f"{_ONEDRIVE}EapUi5G_7vhBmht_klj6nDkBRYmpBvTdBgacpdA6Q9R7sA?e=TEQTOY", DATA,
             "unmore_results/unMORE_disc_coco_train17.json", "post_process.py --pred_annotations_path",
             "results"),
    Artifact("cad_training_data", DETECTOR, "detector training labels: COCO train2017 discoveries + ImageNet "
             "VoteCut (merged)", f"{_ONEDRIVE}EdYi4fl01ItInWR6gVRqDHYBE4vFHzNwfq_9NJmJzMGn4w?e=Ao99xN", DATA,
             "coco/annotations/COCO_merged_IN_training_format.json",
             "cad/train_net.py (dataset coco_train_with_imagenet_train)", "coco",
             ("coco/train2017", "imagenet/train")),
    Artifact("dino_RN50_pretrain_d2_format", DETECTOR, "DINO ResNet-50 initialisation of the detector "
             "(CutLER's release)", f"{_CUTLER}checkpoints/dino_RN50_pretrain_d2_format.pkl", REPO,
             "checkpoints/dino_RN50_pretrain_d2_format.pkl", "cad/train_net.py (MODEL.WEIGHTS of the recipe)",
             "file"),
    Artifact("unMORE_model", DETECTOR, "released class-agnostic Cascade Mask R-CNN",
             f"{_ONEDRIVE}EXPiaGx7tQ9Nqg_1ej6IlKoBjMSbSjT0PG_dMaqxWFZw_g?e=9GDJce", WEIGHTS,
             "unMORE_model.pth",
             "cad/train_net.py --eval_only MODEL.WEIGHTS; cad/demo.py --opts MODEL.WEIGHTS", "detector"),
    Artifact("COCO*_Val_Class_Agnostic", BENCH, "COCO* val2017, class-agnostic",
             f"{_ONEDRIVE}ETtAPDtz67NGssUYk-MmRCwBPwFM7b3q0t1OpblJ5yiIFQ?e=exgXSC", DATA,
             "coco/annotations/COCO_star_val2017_cls_agnostic.json",
             "cad/train_net.py --test-dataset 'cls_agnostic_coco*_val_17'; COCO_evaluator/main.py", "coco",
             ("coco/val2017",)),
    Artifact("COCO*_Val", BENCH, "COCO* val2017: COCO val2017 + 197 extra categories",
             f"{_ONEDRIVE}EfaKXyqw9CtFkkVfezJJ5p4BsXiyMT8AYBqp4xieq4f9Uw?e=IqcgDc", DATA,
             "coco/annotations/COCO_star_val2017.json", "COCO*/utils/compute_category_stats.py", "coco",
             ("coco/val2017",)),
    Artifact("COCO*_extra", BENCH, "COCO* extra labels (boxes + SAM masks) of COCO val2017",
             f"{_ONEDRIVE}EQ2D91J5uoJAsKcrSnNXMlABdkvYKkObEmnKcEadP06VFQ?e=YKwvB1", DATA,
             "coco/annotations/COCO_star_extra_labels_val2017.json",
             "COCO*/utils/merge_extra_labels_with_original.py --extra", "coco", ("coco/val2017",)),
    Artifact("coco20k", BENCH, "COCO20K class-agnostic annotations",
             f"{_GDRIVE}1Vam0DamGADy_rClswNCIDpheGhiPKmYf",
             DATA, "coco/annotations/coco20k_trainval_gt.json", "cad/train_net.py --test-dataset "
             f"cls_agnostic_coco20k (images: coco/train2014 from {_COCO}zips/train2014.zip)", "coco",
             ("coco/train2014",)),
    Artifact("lvis", BENCH, "LVIS v1.0 val (cocofied), class-agnostic",
             f"{_GDRIVE}1FX1RnMTD6meJJnyg9SBParPm-jEKTBHD",
             DATA, "coco/annotations/lvis1.0_cocofied_val_cls_agnostic.json",
             "cad/train_net.py --test-dataset cls_agnostic_lvis", "coco",
             ("coco", "coco/val2017", "coco/train2017")),
    Artifact("kitti", BENCH, "KITTI trainval, class-agnostic (images: cvlibs.net KITTI 2D objects)",
             f"{_CUTLER}kitti/trainval_cls_agnostic.json", DATA,
             "kitti/annotations/trainval_cls_agnostic.json",
             "cad/train_net.py --test-dataset cls_agnostic_kitti", "coco", ("kitti/JPEGImages",)),
    Artifact("voc", BENCH, "VOC2007 trainval+test, class-agnostic (images: the VOC2007 devkit)",
             f"{_CUTLER}voc/trainvaltest_2007_cls_agnostic.json", DATA,
             "voc/annotations/trainvaltest_2007_cls_agnostic.json",
             "cad/train_net.py --test-dataset cls_agnostic_voc", "coco", ("voc/VOC2007/JPEGImages",)),
    Artifact("objects365", BENCH, "Objects365-V2 val, class-agnostic (images: objects365.org)",
             f"{_CUTLER}objects365/zhiyuan_objv2_val_cls_agnostic.json", DATA,
             "objects365/annotations/zhiyuan_objv2_val_cls_agnostic.json",
             "cad/train_net.py --test-dataset cls_agnostic_objects365", "coco", ("objects365/val",)),
    Artifact("openimages", BENCH, "OpenImages-V6 validation, class-agnostic (images: storage.googleapis.com "
             "openimages)", f"{_CUTLER}openImages/openimages_val_cls_agnostic.json", DATA,
             "openImages/annotations/openimages_val_cls_agnostic.json",
             "cad/train_net.py --test-dataset cls_agnostic_openimages", "coco", ("openImages/validation",)),
    Artifact("unMORE_disc_coco_val17", RESULTS, "released unMORE discoveries on COCO val2017",
             f"{_ONEDRIVE}EUmx4T0dephAjOxNeNhoiEsBVy7hsElut_YJL3cRdPkhJw?e=wbkma5", DATA,
             "unmore_results/unMORE_disc_coco_val17.json", "COCO_evaluator/main.py --pred_annotations",
             "results"),
    Artifact("unMORE_coco_val17", RESULTS, "released detector results on COCO val2017 (the original README "
             "links the same file as unMORE_disc_coco_train17)",
             f"{_ONEDRIVE}EapUi5G_7vhBmht_klj6nDkBRYmpBvTdBgacpdA6Q9R7sA?e=TEQTOY", DATA,
             "unmore_results/unMORE_coco_val17.json", "COCO_evaluator/main.py --pred_annotations", "results"),
)
BY_NAME = {a.name: a for a in ARTIFACTS}


def artifact_for(path: str | Path, data_root: str | Path = "data") -> Artifact | None:
    """The artifact expected at `path` under `data_root` (None if none is)."""
    try:
        rel = Path(path).resolve().relative_to(Path(data_root).resolve())
    except ValueError:
        return None
    return next((a for a in ARTIFACTS if a.root == DATA and Path(a.path) == rel), None)


def where_to_get(artifact: Artifact) -> str:
    """`download <name>: <url> (README.md#downloads)`, or the command that makes the file."""
    if artifact.url.startswith("http"):
        return f"download {artifact.name} ({artifact.what}): {artifact.url} ({README_DOWNLOADS})"
    return f"make it ({artifact.what}): {artifact.url}"


def missing_data_message(path: str | Path, flag: str, data_root: str | Path = "data") -> str:
    """One line for a default input that is absent: the path, and where it comes from."""
    art = artifact_for(path, data_root)
    source = where_to_get(art) if art else f"see the downloads table, {README_DOWNLOADS}"
    return f"{path} not found ({flag}): {source}"


def _code_list(text: str) -> str:
    return "; ".join(f"`{part.strip()}`" for part in text.split(";"))


def markdown_table() -> str:
    """The README's downloads table (`python tools/check_setup.py --downloads` prints it)."""
    rows = ["| step | artifact | where to get it | goes to | read by |", "|---|---|---|---|---|"]
    for a in ARTIFACTS:
        source = f"[{a.name}]({a.url})" if a.url.startswith("http") else f"made: `{a.url}`"
        rows.append(f"| {a.stage} | {a.what} | {source} | `{a.shown_path()}` | {_code_list(a.read_by)} |")
    return "\n".join(rows)


def dataset_root() -> Path:
    """The one data root of every named dataset: `$DETECTRON2_DATASETS` when set, else `data/` (relative to
    the working directory)."""
    return Path(os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", DATA)))
