"""Discover the objects of your own photos with unMORE, in one command, and look at them as a page.

    python discover.py photos/ 'more/*.jpg' one.png --out discoveries/

Reasoning, scoring and the pseudo-label thresholds run in one process with the networks of the main job
(`bash run_main.sh`) by default; writes discoveries.json, discoveries_selected.json, overlays/ and index.html.
See `python discover.py --help` and the README ("Discover objects in your own photos").
"""

from reasoning.discover import main
from utils.cli import run_cli

if __name__ == "__main__":
    run_cli(main)
