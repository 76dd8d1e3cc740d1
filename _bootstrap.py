"""The one place that edits `sys.path`: lets scripts in subfolders import the repository's packages.

Python puts only a script's own folder on `sys.path`. Top-level scripts (`train_objectness_net.py`, ...)
therefore see the repository root already; a script in a subfolder (`cad/train_net.py`, `utils/*.py`,
`COCO*/utils/*.py`, `COCO_evaluator/main.py`, `benchmarks/*.py`) runs this file first, before any import from
the repository:

    runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))

This file is run (never imported) and then puts the repository root first on `sys.path` and removes the
running script's own folder, whose modules (`cad/config`, `utils/io.py` ...) would otherwise shadow
top-level names. Running it again, or under `python -m` or pytest, changes nothing else.
See docs/DEVELOPING.md ("Scripts: errors and sys.path").
"""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
_main_file = getattr(sys.modules.get("__main__"), "__file__", None)
if _main_file and sys.path and sys.path[0]:
    _script_dir = Path(_main_file).resolve().parent
    if _script_dir != _ROOT and Path(sys.path[0]).resolve() == _script_dir:
        del sys.path[0]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
