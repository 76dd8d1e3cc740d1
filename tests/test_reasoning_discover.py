"""discover.py on tiny photos with oracle fields: known objects -> known boxes, a corrupt image among them,
resume after a kill, the HTML page, the detector column, default networks and input expansion."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

import reasoning.discover as discover
from reasoning.algorithm import Reasoner
from utils.masks import mask_to_rle, xywh_to_xyxy

pytestmark = pytest.mark.usefixtures("one_thread")

# three photos of 96 x 112 px; objects are discs (cy, cx, r) and ellipses (cy, cx, ry, rx)
OBJECTS = {
    "discs": [("disc", (30, 30, 16)), ("disc", (64, 80, 20))],
    "oval": [("ellipse", (44, 50, 22, 30))],
    "mixed": [("ellipse", (70, 28, 14, 20)), ("disc", (30, 80, 14))],
}
H, W = 96, 112


def _mask(kind, geom):
    yy, xx = np.mgrid[:H, :W]
    cy, cx, ry, rx = geom if kind == "ellipse" else (*geom, geom[2])
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def _box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Folder with the three photos and a corrupt one; GT JSON whose image ids are the file stems."""
    root = tmp_path_factory.mktemp("photos")
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "fg"}]}
    rng = np.random.default_rng(0)
    for name, objects in OBJECTS.items():
        pixels = np.full((H, W, 3), 200, np.uint8)
        for kind, geom in objects:
            m = _mask(kind, geom)
            pixels[m] = rng.integers(0, 120, 3)
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": name, "category_id": 1,
                                      "iscrowd": 0, "area": int(m.sum()), "segmentation": mask_to_rle(m),
                                      "bbox": [float(v) for v in _box(m)]})
        Image.fromarray(pixels).save(root / f"{name}.png")
        gt["images"].append({"id": name, "file_name": f"{name}.png", "height": H, "width": W})
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    gt_path = tmp_path_factory.mktemp("gt") / "gt.json"
    gt_path.write_text(json.dumps(gt))
    return root, gt_path


def _args(photos, out, *extra):
    root, gt = photos
    return [str(root), "--out", str(out), "--oracle_annotations", str(gt), "--analyze_cc", "--num_workers",
            "0", "--device", "cpu", *extra]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href")]


@pytest.fixture(scope="module")
def full_run(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    assert discover.main(_args(photos, out)) == 0
    return out


def test_known_objects_give_known_boxes_and_the_corrupt_image_is_reported(full_run, capsys):
    results = json.loads((full_run / "discoveries.json").read_text())
    for name, objects in OBJECTS.items():
        found = torch.tensor([xywh_to_xyxy(r["bbox"]) for r in results if r["image_id"] == name])
        truth = torch.tensor([_box(_mask(*o)) for o in objects], dtype=torch.float32)
        assert len(found) == len(objects), name
        assert (box_iou(truth, found).amax(1) >= 0.9).all(), name  # every object, tightly boxed
    assert {"segmentation", "existence_score", "center_score", "boundary_score"} <= set(results[0])
    selected = json.loads((full_run / "discoveries_selected.json").read_text())
    assert len(selected["annotations"]) == 5  # oracle scores are 1: every discovery passes the thresholds
    assert sorted(im["id"] for im in selected["images"]) == ["discs", "mixed", "oval"]
    failed = json.loads((full_run / "failed_images.json").read_text())
    assert list(failed) == ["broken"] and "cannot decode" in failed["broken"]


def test_the_page_lists_every_image_and_links_to_existing_overlays(full_run):
    page = (full_run / "index.html").read_text()
    parser = _Links()
    parser.feed(page)
    assert parser.links and all((full_run / link).is_file() for link in parser.links)
    assert {Path(link).stem for link in parser.links} == {"discs", "oval", "mixed"}
    assert "broken.png" in page and "failed: cannot decode" in page
    assert re.search(r"discs\.png</h3><p>2 objects kept of 2 discoveries", page)
    assert Image.open(full_run / "overlays" / "oval.png").size == (W, H + 14)  # one column + its title


def test_resume_after_a_kill_skips_finished_images(photos, full_run, tmp_path, monkeypatch):
    original = Reasoner.discover
    calls = []

    def dying(self, image, image_id=None):
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while working on the third image
        calls.append(image_id)
        return original(self, image, image_id)

    monkeypatch.setattr(Reasoner, "discover", dying)
    with pytest.raises(KeyboardInterrupt):
        discover.main(_args(photos, tmp_path))
    assert not (tmp_path / "discoveries.json").exists()
    resumed = []

    def counting(self, image, image_id=None):
        resumed.append(image_id)
        return original(self, image, image_id)

    monkeypatch.setattr(Reasoner, "discover", counting)
    assert discover.main(_args(photos, tmp_path)) == 0
    assert sorted(resumed) == sorted(set(OBJECTS) - set(calls))  # finished images are skipped
    assert (tmp_path / "discoveries.json").read_bytes() == (full_run / "discoveries.json").read_bytes()
    resumed.clear()
    assert discover.main(_args(photos, tmp_path)) == 0
    assert resumed == []  # nothing left to do


def test_a_failed_image_is_tried_again_on_a_rerun(photos, tmp_path, monkeypatch):
    root, gt = photos
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "oval.png").write_bytes((root / "oval.png").read_bytes())
    (folder / "discs.png").write_bytes(b"truncated")
    out = tmp_path / "out"
    assert discover.main(_args((folder, gt), out)) == 0
    assert "discs" in json.loads((out / "failed_images.json").read_text())
    (folder / "discs.png").write_bytes((root / "discs.png").read_bytes())
    seen = []
    original = Reasoner.discover
    monkeypatch.setattr(Reasoner, "discover", lambda self, image, image_id=None: (
        seen.append(image_id) or original(self, image, image_id)))
    assert discover.main(_args((folder, gt), out)) == 0
    assert seen == ["discs"] and not (out / "failed_images.json").exists()
    assert 'src="overlays/discs.png"' in (out / "index.html").read_text()


def test_detector_adds_a_second_column_and_detections(photos, tmp_path):
    from cad.config import get_cfg
    from cad.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file("cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml")
    cfg.merge_from_list(["INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"])
    torch.manual_seed(0)
    det = tmp_path / "detector"
    det.mkdir()
    torch.save({"model": build_model(cfg).state_dict()}, det / "model_final.pth")
    (det / "config.yaml").write_text(cfg.dump())
    out = tmp_path / "out"
    root, gt = photos
    args = [str(root / "oval.png"), str(root / "discs.png"), "--out", str(out), "--oracle_annotations",
            str(gt), "--num_workers", "0", "--device", "cpu", "--detector", str(det / "model_final.pth"),
            "--detector_threshold", "0"]
    assert discover.main(args) == 0
    detections = json.loads((out / "detections.json").read_text())
    assert detections and {d["image_id"] for d in detections} == {"oval", "discs"}
    assert Image.open(out / "overlays" / "oval.png").size == (2 * W + 4, H + 14)
    assert "detector:" in (out / "index.html").read_text()


def test_without_networks_one_line_says_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert discover.main(["a.png", "--out", "out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bash run_main.sh" in err[0] and "weights/" in err[0]


def test_inputs_files_folders_and_globs(tmp_path):
    for rel in ("a/x.png", "a/y.jpg", "a/notes.txt", "b/x.png"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    records = discover.expand_images([str(tmp_path / "a"), str(tmp_path / "b" / "*.png"),
                                      str(tmp_path / "a" / "x.png"), str(tmp_path / "missing.png")])
    assert [(r.key, r.path.relative_to(tmp_path).as_posix()) for r in records] == [
        ("x", "a/x.png"), ("y", "a/y.jpg"), ("x-2", "b/x.png"), ("missing", "missing.png")]


def test_a_detector_without_its_config_is_one_line(photos, tmp_path, capsys):
    weights = tmp_path / "model_final.pth"
    weights.write_bytes(b"")
    root, gt = photos
    args = [str(root / "oval.png"), "--out", str(tmp_path / "out"), "--oracle_annotations", str(gt),
            "--num_workers", "0", "--device", "cpu", "--detector", str(weights)]
    assert discover.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.yaml not found" in err[0] and "--detector_config" in err[0]


def test_overlay_labels_sit_at_the_box_corner():
    from reasoning.vis import PALETTE, overlay

    image = np.zeros((40, 60, 3), np.uint8)
    plain = overlay(image, [[10, 10, 50, 35]])
    labelled = overlay(image, [[10, 10, 50, 35]], labels=["0.93"])
    inside = labelled[13:20, 12:30].reshape(-1, 3)
    assert (plain[13:20, 12:30] == 0).all()                      # without a label the box is hollow there
    dark = inside.astype(int).sum(1) < int(PALETTE[0].astype(int).sum()) // 2
    assert (inside == PALETTE[0]).all(1).any() and dark.any()  # the label box and its dark text
