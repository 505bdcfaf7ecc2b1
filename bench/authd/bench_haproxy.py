#!/usr/bin/python3
"""bench/authd: pamkit-authd through HAProxy against direct, in one run.

  PAMKIT_BUILD_DIR=$PWD/build /usr/bin/python3 bench/authd/bench_haproxy.py [seconds] [rounds] [concurrency] [--no-pin]

Two identical pamkit-authd instances on the same fast PAM service
(pam_permit): one reached directly, one only through HAProxy running the
documented example (docs/examples/haproxy-pamkit-authd.cfg: TCP mode,
send-proxy-v2, health checks, tcplog) and trusting it with
proxy_protocol_sources.  authd-loadgen makes complete logins (TLS-PSK,
CRAM-MD5 both ways, direct PAM, greeting, close) with `concurrency`
threads (default 8), alternating direct and balanced rounds, then the
same with one client.  Printed: logins/s of each (median over the
rounds), their ratio, the time per login (concurrency / rate) and what the
balancer adds, with one client (pure latency: no CPU is busy) and with
`concurrency`; and each process's CPU time per login, which says what
limits the rate.

With two or more CPUs both daemons run on CPU 0, the load generator and
HAProxy on CPU 1: the balancer stands in for another host, so the
figure is what it adds to a login, not the CPU it takes from the daemon.
"""
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests" / "authd"))

import bench_authd as ba                  # noqa: E402
from test_haproxy import Balancer         # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    secs = float(args[0]) if len(args) > 0 else 2.0
    rounds = int(args[1]) if len(args) > 1 else 5
    conc = int(args[2]) if len(args) > 2 else 8
    cpus = sorted(os.sched_getaffinity(0))
    if "--no-pin" not in sys.argv and len(cpus) >= 2:
        ba.SERVER_CPUS, ba.CLIENT_CPUS = {cpus[0]}, {cpus[1]}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="authd-haproxy-bench-"))
    procs, lb = [], None
    try:
        pamd = tmp / "pam.d"
        pamd.mkdir()
        (pamd / ba.SERVICE).write_text(
            f"auth required {ba.SECDIR}/pam_permit.so\n"
            f"account required {ba.SECDIR}/pam_permit.so\n")
        direct, dport = ba.start_authd(tmp, pamd, "direct", "", None)
        procs.append(direct)
        behind, bport = ba.start_authd(
            tmp, pamd, "behind", "proxy_protocol_sources = 127.0.0.1\n", None)
        procs.append(behind)
        lb = Balancer(tmp, [int(bport)], preexec_fn=ba.pinned(ba.CLIENT_CPUS))
        rates = {"direct": [], "haproxy": []}
        ok = {"direct": 0, "haproxy": 0}
        cpu = {"daemon": {"direct": 0.0, "haproxy": 0.0},
               "haproxy": 0.0, "loadgen": {"direct": 0.0, "haproxy": 0.0}}
        fails = 0
        for _ in range(rounds):
            for name, port, daemon in (("direct", dport, direct),
                                       ("haproxy", lb.port, behind)):
                c0 = ba.resource.getrusage(ba.resource.RUSAGE_CHILDREN)
                d0 = ba.cpu_s(ba.tree(daemon.pid))
                h0 = ba.cpu_s(ba.tree(lb.proc.pid))
                n_ok, n_fail, rate = ba.loadgen(["-p", str(port)], secs, conc)
                c1 = ba.resource.getrusage(ba.resource.RUSAGE_CHILDREN)
                cpu["loadgen"][name] += (c1.ru_utime + c1.ru_stime
                                         - c0.ru_utime - c0.ru_stime)
                cpu["daemon"][name] += ba.cpu_s(ba.tree(daemon.pid)) - d0
                if name == "haproxy":
                    cpu["haproxy"] += ba.cpu_s(ba.tree(lb.proc.pid)) - h0
                rates[name].append(rate)
                ok[name] += n_ok
                fails += n_fail
        # one client at a time: nothing waits for a CPU, the difference
        # is the latency the balancer adds to a login
        lat = {"direct": [], "haproxy": []}
        for _ in range(rounds):
            for name, port in (("direct", dport), ("haproxy", lb.port)):
                _, n_fail, rate = ba.loadgen(["-p", str(port)], secs, 1)
                lat[name].append(1000 / rate)
                fails += n_fail
        l_d = statistics.median(lat["direct"])
        l_h = statistics.median(lat["haproxy"])
        d = statistics.median(rates["direct"])
        h = statistics.median(rates["haproxy"])
        res = {
            "seconds_per_round": secs, "rounds": rounds, "concurrency": conc,
            "cpus": ("daemons on CPU %d; load generator and HAProxy on CPU %d"
                     % (cpus[0], cpus[1]) if ba.SERVER_CPUS else "not pinned"),
            "logins_per_s": {"direct": round(d, 1), "haproxy": round(h, 1)},
            "haproxy_over_direct": round(h / d, 3),
            "ms_per_login": {"direct": round(1000 * conc / d, 3),
                             "haproxy": round(1000 * conc / h, 3)},
            "added_ms_per_login": round(1000 * conc / h - 1000 * conc / d, 3),
            "added_fraction": round(d / h - 1, 3),
            "target_added_fraction": 0.10,
            "one_client_ms_per_login": {"direct": round(l_d, 3),
                                        "haproxy": round(l_h, 3)},
            "one_client_added_ms": round(l_h - l_d, 3),
            "one_client_added_fraction": round(l_h / l_d - 1, 3),
            # CPU ms per login of each process (all threads)
            "cpu_ms_per_login": {
                "daemon_direct": round(1000 * cpu["daemon"]["direct"] / ok["direct"], 3),
                "daemon_behind_haproxy": round(1000 * cpu["daemon"]["haproxy"] / ok["haproxy"], 3),
                "haproxy": round(1000 * cpu["haproxy"] / ok["haproxy"], 3),
                "loadgen_direct": round(1000 * cpu["loadgen"]["direct"] / ok["direct"], 3),
                "loadgen_haproxy": round(1000 * cpu["loadgen"]["haproxy"] / ok["haproxy"], 3),
            },
            "failed_logins": fails,
            "rounds_raw": rates,
        }
        print(json.dumps(res, indent=1))
    finally:
        if lb:
            lb.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except Exception:       # noqa: BLE001
                p.kill()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
