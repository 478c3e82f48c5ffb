"""Fast DDS shared-memory files that a process left behind when it died without closing DDS (SIGKILL, the OOM
killer): ``/dev/shm/fastdds_*`` and their ``sem.fastdds_*`` mutexes. The loopback profile (fastdds_localhost.xml)
gives each participant a 64 MB segment; tmpfs keeps what was written to it until the file is removed, so on a
machine that kills many nodes (tests, benchmarks) they add up to gigabytes of RAM. A file is stale when no live
process maps it or holds it open and it is older than ``min_age_s`` (a participant starting now may not have
mapped its own yet). ROS-free, Linux only (elsewhere nothing is found)."""
from __future__ import annotations

import os
import time
from pathlib import Path

SHM = Path("/dev/shm")
PREFIXES = ("fastdds_", "sem.fastdds_")


def _in_use(shm: Path) -> set[str]:
    """Names of the files under ``shm`` that a live process maps or holds open."""
    used = set()
    prefix = str(shm) + "/"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for line in (proc / "maps").read_text().splitlines():
                fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
                path = fields[5] if len(fields) == 6 else ""
                if path.startswith(prefix):
                    used.add(path[len(prefix):].removesuffix(" (deleted)"))
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith(prefix):
                    used.add(target[len(prefix):])
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return used


def stale_segments(shm: Path = SHM, min_age_s: float = 60.0) -> list[Path]:
    """Fast DDS files under ``shm`` that nobody uses and that are older than ``min_age_s``."""
    if not shm.is_dir():
        return []
    candidates = [p for p in shm.iterdir() if p.name.startswith(PREFIXES)]
    if not candidates:
        return []
    used, now = _in_use(shm), time.time()
    stale = []
    for p in candidates:
        try:
            if p.name not in used and now - p.stat().st_mtime > min_age_s:
                stale.append(p)
        except OSError:
            continue
    return stale


def remove_stale_segments(shm: Path = SHM, min_age_s: float = 60.0) -> tuple[int, int]:
    """Remove :func:`stale_segments`; returns (files removed, bytes of tmpfs they held)."""
    count = size = 0
    for p in stale_segments(shm, min_age_s):
        try:
            held = p.stat().st_blocks * 512
            p.unlink()
        except OSError:
            continue
        count, size = count + 1, size + held
    return count, size
