#!/usr/bin/python3
"""Python PAM benchmark: logins/s and stepwise round-trip latency, one run.

Every contender authenticates user 'alice' against the same service as
bench/pamkit-bench.c (one pam_pktest line: one PAM_PROMPT_ECHO_OFF, answer
'x'), in a private service directory:

  * the raw C libpam loop (bench/python/pam-rawloop.c, the loop (a) of
    bench/pamkit-bench.c), run as a child once per round, timing itself
  * truenas_pypam blocking: Transaction.call and the seed's PamContext
  * truenas_authenticator stepwise (auth_init + auth_continue)
  * the seed's way: UserPamAuthenticator as truenas/truenas_pypam ships it,
    a Python thread plus queue.Queue per login over the blocking call, with
    its polling waits (queue.get(timeout=0.1) / done_event) -- "seed_way"
  * the same thread+queue flow with blocking gets and no polling, the best
    case of that design -- "thread_queue_ideal"
  * Debian's python3-pam (PAM module) and python3-pamela, which cannot take
    a confdir: they run in a child with libpam_wrapper preloaded
    (PAM_WRAPPER_SERVICE_DIR points at the same service dir).  Note the
    wrapper's own cost is included in their numbers.

Rates are the best of ROUNDS interleaved rounds (machine noise hits all
alike).  Round trip = latency of auth_continue (answer -> final code).

Usage: PAMKIT_BUILD_DIR=build /usr/bin/python3 bench/python/bench_auth.py [N]
"""
import gc
import json
import os
import pathlib
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get('PAMKIT_BUILD_DIR', REPO / 'build'))
sys.path.insert(0, str(REPO / 'python'))
sys.path.insert(0, str(BUILD / 'python'))

import truenas_pypam as tp  # noqa: E402
from truenas_authenticator import UserPamAuthenticator  # noqa: E402

PKTEST = BUILD / 'tests' / 'modules' / 'pam_pktest.so'
RAWLOOP = BUILD / 'bench' / 'python' / 'pam-rawloop'
WRAPPER = '/usr/lib/x86_64-linux-gnu/libpam_wrapper.so'
USER, PASSWORD, SERVICE = 'alice', 'x', 'fast'
ROUNDS = 7
C = tp.PAMCode


def setup(tmp):
    d = pathlib.Path(tmp) / 'pam.d'
    d.mkdir()
    (d / SERVICE).write_text(
        f'auth required {PKTEST} setcred=skip prompt_off=Password:|x\n'
        f'account required {PKTEST}\n')
    return str(d)


def answers(msgs):
    return [PASSWORD if m.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF
            else None for m in msgs]


# ---- contenders: one login each -------------------------------------------

def make_contenders(confdir):
    conv = (lambda msgs: [PASSWORD for _ in msgs])

    def txn_blocking():
        t = tp.Transaction(SERVICE, USER, confdir=confdir, conversation=conv)
        assert t.call('authenticate') == 0
        t.end()

    def ctx_blocking():
        c = tp.get_context(service_name=SERVICE, user=USER, confdir=confdir,
                           conversation_function=lambda c, m, p:
                           [PASSWORD for _ in m])
        c.authenticate()

    def authenticator(rtt=None):
        a = UserPamAuthenticator(username=USER, service=SERVICE,
                                 confdir=confdir)
        r = a.auth_init()
        t0 = time.perf_counter()
        r = a.auth_continue(answers(r.reason))
        if rtt is not None:
            rtt.append(time.perf_counter() - t0)
        assert r.code == 0
        a.end()

    return {'txn_blocking': txn_blocking, 'ctx_blocking': ctx_blocking,
            'authenticator_stepwise': authenticator}


class SeedWay:
    """The seed's UserPamAuthenticator flow (a thread + two queue.Queue per
    login over the blocking PamContext.authenticate), written from its
    description: the caller polls the output queue with a 0.1 s timeout and
    checks a done event; the callback polls the input queue with 1 s.
    poll=False: blocking gets, no polling (the design's best case)."""

    def __init__(self, confdir, poll):
        self.confdir, self.poll = confdir, poll
        self.to_user, self.from_user = queue.Queue(), queue.Queue()
        self.done = threading.Event()
        self.exc = self.ctx = None

    def _conv(self, ctx, msgs, priv):
        self.to_user.put(msgs)
        if not self.poll:
            return self.from_user.get()
        while not self.done.is_set():
            try:
                return self.from_user.get(timeout=1.0)
            except queue.Empty:
                continue
        return [None] * len(msgs)

    def _worker(self):
        try:
            c = tp.get_context(service_name=SERVICE, user=USER,
                               confdir=self.confdir,
                               conversation_function=self._conv)
            c.authenticate()
            self.ctx = c
        except Exception as e:    # noqa: BLE001 - reported to the caller
            self.exc = e
        finally:
            self.done.set()
            if not self.poll:
                self.to_user.put(None)

    def _wait(self):
        if not self.poll:
            m = self.to_user.get()
            if m is not None:
                return m
        else:
            while not self.done.is_set():
                try:
                    return self.to_user.get(timeout=0.1)
                except queue.Empty:
                    continue
        self.th.join()
        return C.PAM_SUCCESS if self.exc is None else self.exc.code

    def init(self):
        self.th = threading.Thread(target=self._worker)
        self.th.start()
        return self._wait()

    def cont(self, replies):
        self.from_user.put(replies)
        return self._wait()


def seed_login(confdir, poll, rtt=None):
    s = SeedWay(confdir, poll)
    msgs = s.init()
    t0 = time.perf_counter()
    rc = s.cont(answers(msgs))
    if rtt is not None:
        rtt.append(time.perf_counter() - t0)
    assert rc == 0, rc


# ---- measurement ----------------------------------------------------------

def best_rates(fns, n, cpu=None):
    """Best-of-ROUNDS logins/s per contender, rounds interleaved.  A
    contender is fn() for one login, or ('per_login', f) with f(n) returning
    the (wall, cpu) seconds per login it measured itself (the raw C loop).
    With a cpu dict, the best CPU seconds per login go there too (only
    meaningful for single-threaded contenders)."""
    def per_login(fn):
        if isinstance(fn, tuple):
            return fn[1](n)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        return ((time.perf_counter() - t0) / n,
                (time.process_time() - c0) / n)

    best = {k: 0.0 for k in fns}
    for fn in fns.values():
        if not isinstance(fn, tuple):
            fn()
    for _ in range(ROUNDS):
        for k, fn in fns.items():
            wall, c = per_login(fn)
            best[k] = max(best[k], 1.0 / wall)
            if cpu is not None:
                cpu[k] = min(cpu.get(k, 1e9), c)
    return best


def round_trips(confdir, n):
    out = {}
    rtt = []
    fn = make_contenders(confdir)['authenticator_stepwise']
    for _ in range(n):
        fn(rtt)
    out['authenticator'] = rtt
    for name, poll, k in (('thread_queue_ideal', False, n),
                          ('seed_way', True, max(5, n // 200))):
        rtt = []
        for _ in range(k):
            seed_login(confdir, poll, rtt)
        out[name] = rtt
    return out


def raw_c_loop(confdir, pin):
    """The raw libpam loop (bench/python/pam-rawloop.c) in a child: it
    times itself, so process start-up is not counted."""
    def run(n):
        r = subprocess.run([str(RAWLOOP), confdir, SERVICE, USER, PASSWORD,
                            str(n)] + (['pin'] if pin else []),
                           capture_output=True, text=True,
                           timeout=900, check=True)
        wall, cpu = r.stdout.split()
        return float(wall) * 1e-6, float(cpu) * 1e-6
    return ('per_login', run)


CHILD = r'''
import json, sys, time
n, user, pw, service, rounds = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                sys.argv[4], int(sys.argv[5]))
WRAPPER = sys.argv[6]
out = {}
import PAM
def conv(auth, query_list, userData):
    return [(pw, 0) for q in query_list]
def pypam():
    p = PAM.pam(); p.start(service); p.set_item(PAM.PAM_USER, user)
    p.set_item(PAM.PAM_CONV, conv); p.authenticate()
# pamela dlopens libpam through ctypes, which bypasses LD_PRELOAD: point it
# at the wrapper (it exports the pam_* calls and forwards to libpam).
import ctypes.util
_find = ctypes.util.find_library
ctypes.util.find_library = lambda n: WRAPPER if n == 'pam' else _find(n)
import pamela
def pml():
    pamela.authenticate(user, pw, service=service, resetcred=0)
# ours in the same process state (pam_start_confdir is not wrapped)
sys.path[:0] = [sys.argv[8], sys.argv[9]]
import truenas_pypam as tp
def ours():
    t = tp.Transaction(service, user, confdir=sys.argv[7],
                       conversation=lambda m: [pw for _ in m])
    assert t.call('authenticate') == 0
    t.end()
fns = {}
for name, fn in (('python3_pam', pypam), ('python3_pamela', pml),
                 ('txn_blocking_in_child', ours)):
    try:
        fn()
        fns[name] = fn
    except Exception as e:
        print(f'{name} cannot log in here: {e!r}', file=sys.stderr)
for _ in range(rounds):                     # interleaved, as in the parent
    for name, fn in fns.items():
        t0 = time.perf_counter()
        for _ in range(n): fn()
        out[name] = max(out.get(name, 0.0),
                        n / (time.perf_counter() - t0))
print(json.dumps(out))
'''


def bench_debian(confdir, n):
    env = dict(os.environ, LD_PRELOAD=WRAPPER, PAM_WRAPPER='1',
               PAM_WRAPPER_SERVICE_DIR=confdir)
    # pam_wrapper has a few fixed /tmp/pam.X slots per host: other users
    # of it can hold them all for a moment, so try a few times
    for _ in range(5):
        r = subprocess.run(['/usr/bin/python3', '-c', CHILD, str(n), USER,
                            PASSWORD, SERVICE, str(ROUNDS), WRAPPER, confdir,
                            str(BUILD / 'python'), str(REPO / 'python')],
                           env=env, capture_output=True, text=True,
                           timeout=900)
        if 'pam_wrapper config dir' not in r.stderr:
            break
        time.sleep(2)
    for line in r.stderr.splitlines():
        if 'cannot log in' in line:
            print(line)
    if r.returncode:
        print('debian bindings failed:', r.stderr.strip()[-500:])
        return {}
    return json.loads(r.stdout)


def med(xs):
    return statistics.median(xs)


def modules_mapped():
    with open('/proc/self/maps') as f:
        return PKTEST.name in f.read()


def blocking_rates(confdir, n, warm):
    """Blocking logins against the raw C loop, in one state for both:
    cold = no other handle open, every pam_start dlopens the modules;
    warm = one more handle on the service stays open (a server with other
    logins in flight), so the modules stay mapped."""
    gc.collect()
    pin = None
    if warm:
        pin = tp.Transaction(SERVICE, USER, confdir=confdir)
    elif modules_mapped():
        print('warning: modules still mapped, cold numbers are warm')
    fns = {'raw_c': raw_c_loop(confdir, warm)}
    c = make_contenders(confdir)
    fns['txn_blocking'] = c['txn_blocking']
    fns['ctx_blocking'] = c['ctx_blocking']
    cpu = {}
    try:
        return best_rates(fns, n, cpu), cpu
    finally:
        if pin is not None:
            pin.end()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for f in (PKTEST, RAWLOOP):
        if not f.exists():
            sys.exit(f'{f} not built')
    with tempfile.TemporaryDirectory() as tmp:
        confdir = setup(tmp)
        blocking, cpu = {}, {}
        for m in ('cold', 'warm'):
            blocking[m], cpu[m] = blocking_rates(confdir, n, m == 'warm')
        pin = tp.Transaction(SERVICE, USER, confdir=confdir)
        fns = make_contenders(confdir)
        del fns['txn_blocking'], fns['ctx_blocking']
        fns['thread_queue_ideal'] = (lambda: seed_login(confdir, False))
        res = best_rates(fns, n)
        # the seed's polling flow costs ~0.1 s a login: few rounds
        t0 = time.perf_counter()
        k = max(5, n // 200)
        for _ in range(k):
            seed_login(confdir, True)
        res['seed_way'] = k / (time.perf_counter() - t0)
        rt = round_trips(confdir, n)
        pin.end()
        res.update(bench_debian(confdir, n))

    print(f'python PAM bench: {n} logins x {ROUNDS} rounds (best), user '
          f'{USER}, service pam_pktest one prompt')
    for mode, r in blocking.items():
        print(f'blocking, {mode} (wall; best CPU time per login):')
        for k, v in sorted(r.items(), key=lambda kv: -kv[1]):
            print(f'  {k:26s} {v:10.0f} logins/s  {1e6 / v:9.1f} us/login'
                  f'  cpu {cpu[mode][k] * 1e6:7.1f} us')
    print('warm (one handle pinned), except *_in_child, python3_pam and '
          'python3_pamela: cold, in one child with libpam_wrapper:')
    for k, v in sorted(res.items(), key=lambda kv: -kv[1]):
        print(f'  {k:26s} {v:10.0f} logins/s  {1e6 / v:9.1f} us/login')
    print('stepwise round trip (auth_continue -> final code), median/p90:')
    for k, xs in rt.items():
        xs = sorted(xs)
        print(f'  {k:26s} {med(xs) * 1e6:10.1f} us  '
              f'{xs[len(xs) * 9 // 10] * 1e6:9.1f} us   (n={len(xs)})')
    print('ratios:')
    a = med(rt['authenticator'])
    print(f'  round trip: seed_way / authenticator           '
          f'{med(rt["seed_way"]) / a:8.2f}x  (target >= 3)')
    print(f'  round trip: thread_queue_ideal / authenticator '
          f'{med(rt["thread_queue_ideal"]) / a:8.2f}x')
    print(f'  logins/s: authenticator / seed_way             '
          f'{res["authenticator_stepwise"] / res["seed_way"]:8.2f}x')
    print(f'  logins/s: authenticator / thread_queue_ideal   '
          f'{res["authenticator_stepwise"] / res["thread_queue_ideal"]:8.2f}x')
    for mode, r in blocking.items():
        for k in ('txn_blocking', 'ctx_blocking'):
            print(f'  time/login {k} / raw C loop ({mode})  '
                  f'wall {r["raw_c"] / r[k]:6.3f}  '
                  f'cpu {cpu[mode][k] / cpu[mode]["raw_c"]:6.3f}'
                  f'  (target <= 1.10)')
    for k in ('python3_pam', 'python3_pamela'):
        if k in res and 'txn_blocking_in_child' in res:
            print(f'  logins/s (cold, same child): txn_blocking / {k:15s} '
                  f'{res["txn_blocking_in_child"] / res[k]:6.2f}x')


if __name__ == '__main__':
    main()
