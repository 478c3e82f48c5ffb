"""Fast DDS shared memory left by killed processes is found and removed; files a live process maps or holds
open, other files and fresh ones are kept."""
import mmap
import os
import time

from spacemind_ros.ros.shm_segments import remove_stale_segments, stale_segments


def test_only_unused_old_fastdds_files_go(tmp_path):
    old = time.time() - 600
    for name in ("fastdds_dead", "sem.fastdds_port1_mutex", "fastdds_mapped", "fastdds_open", "other_file"):
        (tmp_path / name).write_bytes(b"\0" * 8192)
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "fastdds_fresh").write_bytes(b"\0" * 16)
    mapped_file = open(tmp_path / "fastdds_mapped", "r+b")
    mapping = mmap.mmap(mapped_file.fileno(), 0)  # mapped by this (live) process, as a participant maps its own
    mapped_file.close()
    held = open(tmp_path / "fastdds_open", "rb")
    try:
        assert sorted(p.name for p in stale_segments(tmp_path)) == ["fastdds_dead", "sem.fastdds_port1_mutex"]
        count, size = remove_stale_segments(tmp_path)
        assert count == 2 and size >= 2 * 8192
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fastdds_fresh", "fastdds_mapped", "fastdds_open",
                                                              "other_file"]
    finally:
        mapping.close()
        held.close()
    assert remove_stale_segments(tmp_path / "missing") == (0, 0)
