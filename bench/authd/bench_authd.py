#!/usr/bin/python3
"""bench/authd: pamkit-authd vs saslauthd on the same fast PAM service.

  PAMKIT_BUILD_DIR=$PWD/build /usr/bin/python3 bench/authd/bench_authd.py [seconds] [rounds] [--no-pin] [--other] [--no-devlog] [--before=BUILD_DIR]

Measures logins/s with 50 concurrent clients (pamkit-authd: full TLS-PSK +
CRAM-MD5 both ways + direct PAM login + session; saslauthd -a pam: its
unix-socket check), the peak memory (VmHWM, summed over saslauthd's worker
processes), and the memory pamkit-authd holds for 2,000 idle logged-in
TLS-PSK connections.  saslauthd reads the same private PAM directory
(bound over /etc/pam.d in its own mount namespace when run as root, else
through libpam_wrapper); the host's /etc/pam.d is never touched.

With two or more CPUs the daemons under test run on CPU 0 and the load
generator on CPU 1 (as a load generator on another machine would), so the
rate is each daemon's capacity on one core rather than a share of the
cores it has to split with its own client: pamkit-authd's client does a
TLS handshake and two HMACs per login, saslauthd's only writes four
strings.  --no-pin lets the scheduler place everything.

--before=BUILD_DIR adds that build's pamkit-authd (an older commit built
elsewhere) to the same rounds, and this build's daemon with
`pam_session = yes` beside it, so before and after are measured in one run
on the same work (a daemon that predates the pam_session key always opened
a session)."""
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import statistics
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


# CPU sets for the daemons and the load generator (None: not pinned).
SERVER_CPUS = CLIENT_CPUS = None


def pinned(cpus):
    """A preexec_fn that pins the child (and all it starts) to cpus."""
    def pin():
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
    return pin


def nofile():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pinned(SERVER_CPUS)()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids):
    """utime + stime of these processes (all their threads), seconds."""
    total = 0
    for pid in pids:
        try:
            f = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
    return total / TICK


def loadgen(args, secs, clients=50):
    """One authd-loadgen run on the client CPUs: (ok, failed, logins/s)."""
    out = subprocess.run([str(LOADGEN)] + args + ["-c", str(clients), "-d", str(secs)],
                         capture_output=True, text=True, timeout=secs + 120,
                         preexec_fn=pinned(CLIENT_CPUS))
    m = re.search(r"ok=(\d+) fail=(\d+).*rate=([\d.]+)", out.stdout)
    assert m, f"loadgen failed: {out.stdout} {out.stderr}"
    return int(m.group(1)), int(m.group(2)), float(m.group(3))


class Load:
    """Counts, over all rounds: logins, server CPU, load generator CPU."""

    def __init__(self, pids):
        self.pids, self.ok, self.server, self.client = pids, 0, 0.0, 0.0

    def run(self, args, secs):
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s0 = cpu_s(self.pids())
        ok, failed, rate = loadgen(args, secs)
        self.server += cpu_s(self.pids()) - s0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.client += (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
        self.ok += ok
        return rate, failed

    def ms_per_login(self):
        n = max(1, self.ok)
        return round(1000 * self.server / n, 3), round(1000 * self.client / n, 3)


# Runs a command in a private mount namespace with /dev/log and /etc/pam.d
# of the bench's own (see the script).
NS_SCRIPT = str(REPO / "bench" / "private-ns.sh")

# The stand-in for the host's syslog daemon: reads /dev/log datagrams and,
# on SIGTERM, prints how many lines came and how many were not LOG_AUTH or
# carried a secret of the bench.
SYSLOG_READER = r"""
import os, signal, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
n = bad = 0
signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
print("ready", flush=True)
try:
    while True:
        m = s.recv(65536)
        n += 1
        pri = int(m[1:m.index(b">")]) if m[:1] == b"<" else -1
        if pri >> 3 not in (4, 10) or b"benchsecret" in m or b"wonderland" in m:
            bad += 1
except KeyboardInterrupt:
    pass
print(n, bad, flush=True)
"""


def ns_prefix(tmp, sock, pamd):
    """argv prefix for NS_SCRIPT, or None when not root or unshare fails."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    old = tmp / "olddev"
    old.mkdir(exist_ok=True)
    ns = ["unshare", "--mount", "/bin/sh", NS_SCRIPT,
          str(sock) if sock else "-", str(old), str(pamd) if pamd else "-"]
    probe = subprocess.run(ns + ["true"], capture_output=True, timeout=10)
    return ns if probe.returncode == 0 else None


def saslauthd_cmd(tmp, pamd, mux, sock):
    """saslauthd reads /etc/pam.d only.  As root, give it a private mount
    namespace with pamd bound over /etc/pam.d (the host's is untouched) so
    that it runs libpam natively; otherwise libpam_wrapper, which copies
    the service directory on every pam_start and so slows saslauthd down."""
    # no -d: that is saslauthd's debug mode (it then logs two or three debug
    # lines per check); it detaches as on a real host, see SaslPid
    base = ["/usr/sbin/saslauthd", "-a", "pam", "-m", str(mux), "-n", "50"]
    ns = ns_prefix(tmp, sock, pamd)
    if ns:
        return ns + base, dict(os.environ), "mount namespace"
    env = dict(os.environ, LD_PRELOAD=PAMWRAP, PAM_WRAPPER="1",
               PAM_WRAPPER_SERVICE_DIR=str(pamd))
    return base, env, "libpam_wrapper"


class SaslPid:
    """The detached saslauthd master, with the part of Popen's API used."""

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        try:
            text = pathlib.Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0
        return 0 if text.rsplit(")", 1)[1].split()[0] == "Z" else None

    def send_signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout):
        for _ in range(int(timeout * 20)):
            if self.poll() is not None:
                return 0
            time.sleep(0.05)
        raise subprocess.TimeoutExpired("saslauthd", timeout)


def start_authd(tmp, pamd, name, extra, sock, daemon=DAEMON):
    conf = tmp / f"{name}.conf"
    if b"max_unauth_per_source" in pathlib.Path(daemon).read_bytes():
        # all 50 clients come from 127.0.0.1: lift the per-source limit on
        # connections not yet logged in (a daemon older than it has none)
        extra = "max_unauth_per_source = 0\n" + extra
    if b"pam_any_user" in pathlib.Path(daemon).read_bytes():
        # the bench's users have no User resource: admit any PAM accepts
        extra = "pam_any_user = yes\n" + extra
    conf.write_text(
        "director_name = bench-dir\nlisten_port = 0\n"
        f"pam_service = {SERVICE}\npam_confdir = {pamd}\n"
        "max_connections = 2100\nfail_delay_ms = 0\n" + extra +
        "[console benchcon]\npassword = benchsecret\npam = yes\n")
    conf.chmod(0o600)   # pamkit-authd refuses a config others can read
    logf = tmp / f"{name}.log"
    ns = ns_prefix(tmp, sock, None) if sock else []
    d = subprocess.Popen((ns or []) + [str(daemon), "-c", str(conf)],
                         stderr=open(logf, "w"), preexec_fn=nofile)
    for _ in range(200):
        m = re.search(r"port (\d+)", logf.read_text())
        if m:
            return d, m.group(1)
        time.sleep(0.05)
    d.kill()
    raise AssertionError("pamkit-authd did not start")


def main():
    global SERVER_CPUS, CLIENT_CPUS
    flags = {"--no-pin", "--other", "--no-devlog"}
    before_dir = None
    for a in sys.argv[1:]:
        if a.startswith("--before="):
            before_dir = pathlib.Path(a.split("=", 1)[1])
            flags.add(a)
    args = [a for a in sys.argv[1:] if a not in flags]
    secs = float(args[0]) if len(args) > 0 else 2.0
    rounds = int(args[1]) if len(args) > 1 else 5
    cpus = sorted(os.sched_getaffinity(0))
    if "--no-pin" not in sys.argv and len(cpus) >= 2:
        SERVER_CPUS, CLIENT_CPUS = {cpus[0]}, {cpus[1]}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="authd-bench-"))
    res = {"seconds_per_round": secs, "rounds": rounds, "clients": 50,
           "cpus": ("daemons on CPU %d, load generator on CPU %d" %
                    (cpus[0], cpus[1]) if SERVER_CPUS else "not pinned")}
    procs = []
    try:
        pamd = tmp / "pam.d"
        pamd.mkdir()
        (pamd / SERVICE).write_text(
            f"auth required {SECDIR}/pam_permit.so\n"
            f"account required {SECDIR}/pam_permit.so\n"
            f"session required {SECDIR}/pam_permit.so\n")
        # libpam always reads "other" too; without one it logs an error on
        # every pam_start (one send() with the /dev/log reader).  --other
        # adds one (pam_deny), as real hosts have; it is not the default
        # because it is not equal treatment: libpam loads its modules on
        # every pam_start, and saslauthd's processes end every handle, so
        # each check dlopens pam_deny.so again (35 % of saslauthd's rate
        # here), while pamkit-authd's open sessions keep it loaded.
        if "--other" in sys.argv:
            (pamd / "other").write_text("".join(
                f"{t} required {SECDIR}/pam_deny.so\n"
                for t in ("auth", "account", "password", "session")))
        res["pam_other_file"] = (pamd / "other").exists()
        # syslog as on a real host: a reader on /dev/log (on the load
        # generator's CPU, as another process on the host) in each daemon's
        # private mount namespace.  --no-devlog: this VM's missing /dev/log.
        sock, reader = None, None
        if "--no-devlog" not in sys.argv and ns_prefix(tmp, None, None):
            sock = tmp / "devlog"
            reader = subprocess.Popen([sys.executable, "-c", SYSLOG_READER, str(sock)],
                                      stdout=subprocess.PIPE, text=True,
                                      preexec_fn=pinned(CLIENT_CPUS))
            procs.append(reader)
            assert reader.stdout.readline().strip() == "ready"
        res["syslog"] = "/dev/log reader" if sock else "no /dev/log"
        # the default (pam_rhost = no, as the Bareos director)
        d, port = start_authd(tmp, pamd, "authd", "", sock)
        procs.append(d)
        # the same daemon with PAM_RHOST: libaudit then resolves the host
        # for each of its records
        d2, port2 = start_authd(tmp, pamd, "authd-rhost", "pam_rhost = yes\n", sock)
        procs.append(d2)
        res["authd_baseline_rss_kb"] = status(d.pid, "VmRSS")
        # --before: the older build's daemon, and this one doing its work
        # (a PAM session per login, which the older one always opened)
        extra_loads = []
        if before_dir:
            old = before_dir / "authd" / "pamkit-authd"
            assert old.exists(), f"no daemon in {before_dir}"
            res["before_build"] = str(before_dir)
            for name, daemon, extra in (
                    ("before", old, ""),
                    ("after_session", DAEMON, "pam_session = yes\n")):
                dx, px = start_authd(tmp, pamd, "authd-" + name, extra, sock,
                                     daemon)
                procs.append(dx)
                extra_loads.append((name, Load(lambda p=dx.pid: [p]), px,
                                    [], []))

        # saslauthd -a pam, 50 workers, same PAM service via pam_wrapper
        mux = tmp / "mux"
        mux.mkdir()
        cmd, env, res["saslauthd_pam_dir"] = saslauthd_cmd(tmp, pamd, mux, sock)
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30,
                       preexec_fn=pinned(SERVER_CPUS))
        sock, pidf = mux / "mux", mux / "saslauthd.pid"
        for _ in range(200):
            if sock.exists() and pidf.exists() and pidf.read_text().strip():
                break
            time.sleep(0.05)
        assert sock.exists(), "saslauthd did not start"
        s = SaslPid(int(pidf.read_text().split()[0]))
        procs.append(s)
        time.sleep(0.5)
        # testsaslauthd, the stock client, agrees on the same service
        t = subprocess.run(["/usr/sbin/testsaslauthd", "-u", "alice", "-p", "x",
                            "-s", SERVICE, "-f", str(sock)],
                           capture_output=True, text=True, timeout=30)
        res["testsaslauthd"] = t.stdout.strip()

        # Both daemons stay up; the loads alternate, so a change in the
        # machine's other load hits both sides alike.
        ra, rn, rs, ratios, ratios_n = [], [], [], [], []
        fails = [0, 0]
        la, ls, ln = Load(lambda: [d.pid]), Load(lambda: tree(s.pid)), Load(lambda: [d2.pid])
        for _ in range(rounds):
            a, fa = la.run(["-p", port], secs)
            b, fb = ls.run(["-s", str(sock)], secs)
            n, fn = ln.run(["-p", port2], secs)
            ra.append(a)
            rs.append(b)
            rn.append(n)
            ratios.append(round(a / max(0.1, b), 3))
            ratios_n.append(round(n / max(0.1, b), 3))
            fails[0] += fa + fn
            fails[1] += fb
            for name, load, px, rates, rr in extra_loads:
                x, fx = load.run(["-p", px], secs)
                rates.append(x)
                rr.append(round(x / max(0.1, b), 3))
                fails[0] += fx
        for name, load, px, rates, rr in extra_loads:
            res[f"{name}_logins_per_s_rounds"] = rates
            res[f"{name}_ratio_rounds"] = rr
            res[f"rate_ratio_{name}_over_saslauthd"] = statistics.median(rr)
            res[f"{name}_logins_per_s"] = statistics.median(rates)
            res[f"cpu_ms_per_login_{name}"], _ = load.ms_per_login()
        res["authd_rhost_logins_per_s_rounds"] = rn
        res["ratio_rhost_rounds"] = ratios_n
        res["rate_ratio_authd_rhost_over_saslauthd"] = statistics.median(ratios_n)
        res["authd_logins_per_s_rounds"] = ra
        res["saslauthd_logins_per_s_rounds"] = rs
        res["ratio_rounds"] = ratios
        res["authd_logins_per_s"] = statistics.median(ra)
        res["saslauthd_logins_per_s"] = statistics.median(rs)
        res["rate_ratio_authd_over_saslauthd"] = statistics.median(ratios)
        # CPU per login (ms): the daemon (all threads) or saslauthd (all
        # its processes), and the load generator's own share
        res["cpu_ms_per_login_authd"], res["cpu_ms_per_login_authd_client"] = la.ms_per_login()
        res["cpu_ms_per_login_authd_rhost"], _ = ln.ms_per_login()
        res["cpu_ms_per_login_saslauthd"], res["cpu_ms_per_login_saslauthd_client"] = ls.ms_per_login()
        res["authd_failures"] = fails[0]
        res["saslauthd_failures"] = fails[1]
        res["authd_peak_kb"] = status(d.pid, "VmHWM")
        res["saslauthd_peak_kb_sum"] = sum(status(p, "VmHWM") for p in tree(s.pid))
        res["peak_memory_ratio_authd_over_saslauthd"] = round(
            res["authd_peak_kb"] / max(1, res["saslauthd_peak_kb_sum"]), 3)
        s.send_signal(signal.SIGTERM)
        s.wait(15)

        # 2,000 idle logged-in TLS-PSK connections, each with a PAM session
        before = status(d.pid, "VmRSS")
        idle = subprocess.Popen([str(LOADGEN), "-p", port, "-i", "2000"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        line = idle.stdout.readline()
        time.sleep(0.5)
        held = status(d.pid, "VmRSS")
        res["idle_threads"] = len(os.listdir(f"/proc/{d.pid}/task"))
        idle.stdin.close()
        idle.wait(60)
        res["idle_connections"] = int(line.split("=")[1])
        res["idle_rss_kb_before"] = before
        res["idle_rss_kb_held"] = held
        res["idle_kib_per_connection"] = round((held - before) / max(1, res["idle_connections"]), 2)
        d.send_signal(signal.SIGTERM)
        d2.send_signal(signal.SIGTERM)
        res["authd_exit"] = d.wait(15)
        d2.wait(15)
        if reader:
            reader.send_signal(signal.SIGTERM)
            n, bad = reader.communicate(timeout=15)[0].split()
            res["syslog_lines"], res["syslog_lines_not_auth_or_secret"] = int(n), int(bad)
        print(json.dumps(res, indent=2))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
