"""Optional dependencies: packages only some commands need, each listed in its own requirements file.

`requirements.txt` is the unMORE pipeline; `requirements-rmonet.txt` (DeepMind TFRecords of R-MONet) and
`requirements-cocostar.txt` (SAM, for the COCO* masks) are installed by the commands that use them:
`import_extra(...)` names the file to install when the package is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {  # requirements file -> what it is for
    "requirements-rmonet.txt": "reading DeepMind Multi-Object TFRecords for R-MONet",
    "requirements-cocostar.txt": "SAM masks of the COCO* annotation tools",
}


class MissingExtra(ImportError, ValueError):
    """An optional package is not installed (a ValueError too, so scripts report it as one error line)."""


def import_extra(module: str, requirements: str) -> ModuleType:
    """`importlib.import_module(module)`, or MissingExtra saying which requirements file to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"{module} is not installed; it is needed for {EXTRAS[requirements]}: "
            f"python -m pip install -r {requirements}"
        ) from e
