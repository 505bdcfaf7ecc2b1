#!/usr/bin/python3
"""bench/authd: pamkit-authd vs saslauthd on the same fast PAM service.

  PAMKIT_BUILD_DIR=$PWD/build /usr/bin/python3 bench/authd/bench_authd.py [seconds]

Measures logins/s with 50 concurrent clients (pamkit-authd: full TLS-PSK +
CRAM-MD5 both ways + direct PAM login + session; saslauthd -a pam: its
unix-socket check), the peak memory (VmHWM, summed over saslauthd's worker
processes), and the memory pamkit-authd holds for 2,000 idle logged-in
TLS-PSK connections.  saslauthd reads its PAM service from a private
directory through libpam_wrapper (PAM_WRAPPER_SERVICE_DIR), never
/etc/pam.d."""
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PAMKIT_BUILD_DIR", REPO / "build"))
DAEMON = BUILD / "authd" / "pamkit-authd"
LOADGEN = BUILD / "authd" / "authd-loadgen"
SECDIR = "/usr/lib/x86_64-linux-gnu/security"
PAMWRAP = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
SERVICE = "pamkit-bench"


def status(pid, key):
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def tree(pid):
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            kids = pathlib.Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            for k in kids:
                out += tree(int(k))
    except OSError:
        pass
    return out


def nofile():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="authd-bench-"))
    res = {"seconds": secs, "clients": 50}
    procs = []
    try:
        pamd = tmp / "pam.d"
        pamd.mkdir()
        (pamd / SERVICE).write_text(
            f"auth required {SECDIR}/pam_permit.so\n"
            f"account required {SECDIR}/pam_permit.so\n"
            f"session required {SECDIR}/pam_permit.so\n")
        conf = tmp / "authd.conf"
        conf.write_text(
            "director_name = bench-dir\nlisten_port = 0\n"
            f"pam_service = {SERVICE}\npam_confdir = {pamd}\n"
            "max_connections = 2100\nfail_delay_ms = 0\n"
            "[console benchcon]\npassword = benchsecret\npam = yes\n")
        log = open(tmp / "authd.log", "w")
        d = subprocess.Popen([str(DAEMON), "-c", str(conf)], stderr=log,
                             preexec_fn=nofile)
        procs.append(d)
        port = None
        for _ in range(200):
            m = re.search(r"port (\d+)", (tmp / "authd.log").read_text())
            if m:
                port = m.group(1)
                break
            time.sleep(0.05)
        assert port, "pamkit-authd did not start"
        base = status(d.pid, "VmRSS")
        out = subprocess.run([str(LOADGEN), "-p", port, "-c", "50", "-d", str(secs)],
                             capture_output=True, text=True, timeout=secs + 120)
        m = re.search(r"ok=(\d+) fail=(\d+).*rate=([\d.]+)", out.stdout)
        res["authd_logins_per_s"] = float(m.group(3))
        res["authd_failures"] = int(m.group(2))
        res["authd_peak_kb"] = status(d.pid, "VmHWM")

        # 2,000 idle logged-in TLS-PSK connections
        before = status(d.pid, "VmRSS")
        idle = subprocess.Popen([str(LOADGEN), "-p", port, "-i", "2000"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        line = idle.stdout.readline()
        time.sleep(0.5)
        held = status(d.pid, "VmRSS")
        idle.stdin.close()
        idle.wait(60)
        res["idle_connections"] = int(line.split("=")[1])
        res["idle_rss_kb_before"] = before
        res["idle_rss_kb_held"] = held
        res["idle_kb_per_connection"] = round((held - before) / max(1, res["idle_connections"]), 2)
        res["authd_baseline_rss_kb"] = base
        d.send_signal(signal.SIGTERM)
        d.wait(15)

        # saslauthd -a pam, 50 workers, same PAM service via pam_wrapper
        mux = tmp / "mux"
        mux.mkdir()
        env = dict(os.environ, LD_PRELOAD=PAMWRAP, PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=str(pamd))
        s = subprocess.Popen(["/usr/sbin/saslauthd", "-a", "pam", "-m", str(mux),
                              "-n", "50", "-d"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # it signals its group
        procs.append(s)
        sock = mux / "mux"
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.05)
        assert sock.exists(), "saslauthd did not start"
        time.sleep(0.5)
        out = subprocess.run([str(LOADGEN), "-s", str(sock), "-c", "50", "-d", str(secs)],
                             capture_output=True, text=True, timeout=secs + 120)
        m = re.search(r"ok=(\d+) fail=(\d+).*rate=([\d.]+)", out.stdout)
        res["saslauthd_logins_per_s"] = float(m.group(3))
        res["saslauthd_failures"] = int(m.group(2))
        res["saslauthd_peak_kb_sum"] = sum(status(p, "VmHWM") for p in tree(s.pid))
        # testsaslauthd, the stock client, agrees
        t = subprocess.run(["/usr/sbin/testsaslauthd", "-u", "alice", "-p", "x",
                            "-s", SERVICE, "-f", str(sock)],
                           capture_output=True, text=True, timeout=30)
        res["testsaslauthd"] = t.stdout.strip()
        s.send_signal(signal.SIGTERM)
        s.wait(15)
        res["rate_ratio_authd_over_saslauthd"] = round(
            res["authd_logins_per_s"] / max(0.1, res["saslauthd_logins_per_s"]), 3)
        res["peak_memory_ratio_authd_over_saslauthd"] = round(
            res["authd_peak_kb"] / max(1, res["saslauthd_peak_kb_sum"]), 3)
        print(json.dumps(res, indent=2))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
