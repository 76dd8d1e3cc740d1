"""Every script of the evaluator / COCO tools answers --help (loaded in-process, as run from the root)."""

import importlib.util

import pytest

SCRIPTS = ["COCO_evaluator/main.py", "post_process.py", "merge_coco_and_imagenet.py",
           "tools/convert_to_cls_agnostic.py", "tools/check_coco_json.py",
           "COCO*/utils/generate_mask_for_extra_coco_labels.py",
           "COCO*/utils/merge_extra_labels_with_original.py", "COCO*/utils/compute_category_stats.py"]


@pytest.mark.parametrize("path", SCRIPTS)
def test_help(path, capsys):
    spec = importlib.util.spec_from_file_location("script_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out
