"""Writing matplotlib figures, for the training runs' pictures."""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.io import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: str | os.PathLike, dpi: int = 80) -> None:
    """Write a matplotlib figure as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
