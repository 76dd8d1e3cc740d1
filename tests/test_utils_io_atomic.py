"""Atomic writes: killed writes leave no temp file after the next start; files honour the umask (issue 11)."""

import os
import socket
import stat

import pytest
import torch

from utils.io import atomic_torch_save, atomic_write_json, remove_stale_temp_files


def _dead_pid() -> int:
    pid = 4_000_000  # above Linux's pid_max limit (4194304 is the largest possible; none runs at this one)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def _temp_name(target: str, pid: int, host: str | None = None) -> str:
    return f".{target}~{host or socket.gethostname()}~{pid}~abc123.tmp"


def test_killed_checkpoint_write_leaves_no_temp_after_next_start(tmp_path):
    stale = tmp_path / _temp_name("checkpoint_latest.pth", _dead_pid())
    stale.write_bytes(b"x" * 1000)  # what a kill -9 during torch.save leaves behind
    live = tmp_path / _temp_name("checkpoint_latest.pth", os.getpid())  # a writer that is still running
    live.write_bytes(b"y")
    other = tmp_path / ".unrelated.tmp"  # not ours: never touched
    other.write_bytes(b"z")
    atomic_torch_save({"w": torch.ones(2)}, tmp_path / "checkpoint_latest.pth")
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "checkpoint_latest.pth"])


def test_start_up_cleanup_of_a_folder(tmp_path):
    names = [_temp_name("a.json", _dead_pid()), _temp_name("b.pth", _dead_pid()),
             _temp_name("c.pth", os.getpid())]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    old_foreign = tmp_path / _temp_name("d.pth", 1, host="elsewhere")
    old_foreign.write_bytes(b"")
    os.utime(old_foreign, (0, 0))  # another host's temp file from 1970: its writer is long gone
    new_foreign = tmp_path / _temp_name("e.pth", 1, host="elsewhere")
    new_foreign.write_bytes(b"")
    assert remove_stale_temp_files(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[2], new_foreign.name])


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_honour_the_umask(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "r.json", {"a": 1})
        atomic_torch_save({}, tmp_path / "c.pth")
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "c.pth").stat().st_mode) == mode
