"""LockFile: one holder at a time, a dead holder's lock taken over by exactly one process."""
import multiprocessing
import os
import socket
import subprocess
import sys

import pytest

from hubness_fast._lockfile import LockFile, holder


def dead_pid():
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


def test_one_holder_at_a_time_and_release_only_by_the_holder(tmp_path):
    path = tmp_path / "x.lock"
    a, b = LockFile(path), LockFile(path)
    assert a.acquire() is None and path.read_text().split()[:2] == [socket.gethostname(), str(os.getpid())]
    assert b.acquire() == "this process"
    b.release()  # not b's: stays
    assert path.exists() and holder(path) == "this process"
    a.release()
    assert not path.exists() and holder(path) is None
    assert b.acquire() is None
    b.release()


def test_a_dead_or_unreadable_lock(tmp_path):
    path = tmp_path / "x.lock"
    path.write_text(f"{socket.gethostname()} {dead_pid()} 1\n")
    assert holder(path) is None
    lock = LockFile(path)
    assert lock.acquire() is None and path.read_text().strip() == lock.token
    lock.release()
    path.write_text("vm abc 1\n")
    assert LockFile(path).acquire() == "a lock file this version cannot read"
    path.write_text("otherhost 12345 1\n")  # another host's process: cannot be checked, so it holds
    assert LockFile(path).acquire() == "process 12345 on otherhost"


def _race(path, barrier, results):
    barrier.wait()
    lock = LockFile(path)
    results.put("got" if lock.acquire() is None else "refused")
    barrier.wait()  # the winner lives (its lock live) until both have tried


@pytest.mark.skipif(sys.platform == "win32", reason="the takeover is serialised by flock")
def test_two_processes_taking_over_one_dead_lock_never_both_get_it(tmp_path):
    ctx = multiprocessing.get_context("fork")
    path, pid = tmp_path / "x.lock", dead_pid()
    for _ in range(20):
        path.write_text(f"{socket.gethostname()} {pid} 1\n")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(path, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert sorted(results.get(timeout=5) for _ in procs) == ["got", "refused"]
        path.unlink()  # the winner has exited: its lock is left as a dead one would be
