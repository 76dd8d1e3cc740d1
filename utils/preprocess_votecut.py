"""The original unMORE README's path of `tools/preprocess_votecut.py`: same flags, same outputs.

    python utils/preprocess_votecut.py --votecut_json imagenet_train_votecut_kmax_3_tuam_0.2.json \\
        --out_dir data/imagenet
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from tools.preprocess_votecut import main  # noqa: E402
from utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
