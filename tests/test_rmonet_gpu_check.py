"""benchmarks/rmonet_gpu_check.sh end to end at its tiny CPU size (3 iterations on 32x32 scenes)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_cpu_run_prints_the_table_and_writes_the_picture(tmp_path):
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # `python` in the script = this interpreter
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": path}
    out = tmp_path / "check"
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "rmonet_gpu_check.sh"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| R-MONet(UNet) |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "3"  # iterations
    assert float(cells[2]) > 0  # train images/s
    assert 0.0 <= float(cells[3]) <= 1.0  # fg-ARI
    assert cells[5] == "0.951"  # the paper's fg-ARI next to ours
    assert cells[7] == "0.435 / 0.839 / 0.407"  # the paper's box AP / AP50 / AP75
    assert (out / "decomposition.png").stat().st_size > 1000
    assert (out / "bench_results.md").read_text().count("R-MONet(UNet)") == 1
