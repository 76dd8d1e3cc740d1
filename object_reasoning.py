"""unMORE stage 2: discover objects in images by multi-object reasoning -> discovery_results.json.

Example (the original README's flags):
    python object_reasoning.py --sdf_activation tanh --use_bg_sdf \
        --objectness_resume CKPT --binary_classifier_resume CKPT --start_idx 0 --end_idx 20 --analyze_cc
See `python object_reasoning.py --help` and the README.
"""

from reasoning.cli import main_reasoning
from utils.cli import run_cli

if __name__ == "__main__":
    run_cli(main_reasoning)
