#!/usr/bin/python3
"""bench/authd: N logins at once through a PAM module that blocks 0.5 s.

  PAMKIT_BUILD_DIR=$PWD/build /usr/bin/python3 bench/authd/bench_slow.py [--before=BUILD_DIR]

A console's login should take about the module's time however many
arrive together, up to the worker bound (pam_threads, default 64): the
workers are libpamkit's, borrowed per operation and given back.  For 20
and 200 direct (4002) logins started at once, cleartext, from Python
threads: the wall time until the last greeting, the daemon's peak thread
count and peak RSS (VmHWM).  --before adds an older build's daemon to the
same run (e.g. dc98c5a, the fixed pool of 4 PAM threads)."""
import json
import os
import pathlib
import re
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests" / "authd"))

import bench_authd as ba            # noqa: E402
from bareos_wire import Wire        # noqa: E402

DELAY_MS = 500


def login(port, done, errors):
    try:
        w = Wire(port, timeout=60)
        assert w.auth(console="benchcon", password="benchsecret",
                      director="bench-dir") == b"1000 OK auth\n"
        assert w.recv() == b"1001\x1e"
        w.send(b"4002\x1ealice\x1ewonderland")
        assert w.recv().startswith(b"1000\x1eOK")
        done.append(time.monotonic())
        w.close()
    except Exception as e:          # noqa: BLE001 - counted, reported
        errors.append(repr(e))


def threads_of(pid):
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(re.search(r"^Threads:\s+(\d+)", text, re.M).group(1))


def burst(daemon_pid, port, n):
    done, errors, peak = [], [], [threads_of(daemon_pid)]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], threads_of(daemon_pid))
            time.sleep(0.01)
    sampler = threading.Thread(target=sample)
    sampler.start()
    ts = [threading.Thread(target=login, args=(port, done, errors))
          for _ in range(n)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stop.set()
    sampler.join()
    return {"logins": n, "ok": len(done), "failed": len(errors),
            "wall_s": round(max(done) - t0, 3) if done else None,
            "peak_threads": peak[0],
            "vmhwm_kib": ba.status(daemon_pid, "VmHWM")}


def main():
    before = None
    for a in sys.argv[1:]:
        if a.startswith("--before="):
            before = pathlib.Path(a.split("=", 1)[1]) / "authd" / "pamkit-authd"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="authd-slow-bench-"))
    pamd = tmp / "pam.d"
    pamd.mkdir()
    pk = ba.BUILD / "tests" / "modules" / "pam_pktest.so"
    (pamd / ba.SERVICE).write_text(
        f"auth required {pk} get_user [prompt_off=Password: |wonderland] "
        f"delay_ms={DELAY_MS}\n"
        f"account required {ba.SECDIR}/pam_permit.so\n"
        # an older daemon always opened a session
        f"session required {ba.SECDIR}/pam_permit.so\n")
    daemons = [("this build", ba.DAEMON)]
    if before:
        daemons.append((f"before ({before.parents[1]})", before))
    res = {"module_delay_ms": DELAY_MS, "runs": []}
    procs = []
    try:
        for name, binary in daemons:
            d, port = ba.start_authd(tmp, pamd, f"slow{len(procs)}",
                                     "tls = optional\nmax_connections = 1000\n",
                                     None, daemon=binary)
            procs.append(d)
            time.sleep(0.2)
            for n in (20, 200):
                r = burst(d.pid, port, n)
                r["daemon"] = name
                res["runs"].append(r)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
