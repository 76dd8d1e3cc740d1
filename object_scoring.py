"""unMORE stage 2: masks and scores for discovered boxes -> object_discovery_with_scores.json.

Example (the original README's flags):
    python object_scoring.py --sdf_activation tanh --use_bg_sdf \
        --objectness_resume CKPT --binary_classifier_resume CKPT --raw_annotations_path discovery_results.json
See `python object_scoring.py --help` and the README.
"""

from reasoning.cli import main_scoring
from utils.cli import run_cli

if __name__ == "__main__":
    run_cli(main_scoring)
