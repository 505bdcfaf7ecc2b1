#!/usr/bin/python3
"""Python PAM benchmark: authentications/s and stepwise round-trip latency.

Compares, on the same fast pam_matrix service:
  * truenas_pypam blocking (Transaction.call, PamContext.authenticate)
  * truenas_authenticator stepwise (auth_init + auth_continue)
  * the seed's way: a Python thread + queue.Queue per login over the
    blocking call
  * Debian's python3-pam (PAM module) and python3-pamela, which cannot take a
    confdir: they run in a child process with libpam_wrapper preloaded
    (PAM_WRAPPER_SERVICE_DIR points at the same private service dir).

Usage: PAMKIT_BUILD_DIR=build /usr/bin/python3 bench/python/bench_auth.py [N]
"""
import json
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get('PAMKIT_BUILD_DIR', REPO / 'build'))
sys.path.insert(0, str(REPO / 'python'))
sys.path.insert(0, str(BUILD / 'python'))

MATRIX = '/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so'
WRAPPER = '/usr/lib/x86_64-linux-gnu/libpam_wrapper.so'
USER, PASSWORD, SERVICE = 'bench', 'benchpw', 'pkbench'


def setup(tmp):
    db = pathlib.Path(tmp) / 'passdb'
    db.write_text(f'{USER}:{PASSWORD}:{SERVICE}\n')
    d = pathlib.Path(tmp) / 'pam.d'
    d.mkdir()
    lines = ''.join(f'{t} required {MATRIX} passdb={db}\n'
                    for t in ('auth', 'account', 'password', 'session'))
    (d / SERVICE).write_text(lines)
    return str(d)


def rate(fn, n):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def bench_ours(confdir, n):
    import truenas_pypam as tp
    from truenas_authenticator import UserPamAuthenticator
    res = {}
    conv = (lambda msgs: [PASSWORD for _ in msgs])

    def txn_call():
        t = tp.Transaction(SERVICE, USER, confdir=confdir, conversation=conv)
        assert t.call('authenticate') == 0
        t.end()
    res['txn_blocking'] = rate(txn_call, n)

    def ctx_call():
        c = tp.get_context(service_name=SERVICE, user=USER, confdir=confdir,
                           conversation_function=lambda c, m, p:
                           [PASSWORD for _ in m])
        c.authenticate()
    res['ctx_blocking'] = rate(ctx_call, n)

    def stepwise():
        a = UserPamAuthenticator(username=USER, service=SERVICE,
                                 confdir=confdir)
        r = a.auth_init()
        r = a.auth_continue([PASSWORD for _ in r.reason])
        assert r.code == 0
        a.end()
    res['authenticator_stepwise'] = rate(stepwise, n)

    # round trip only: one transaction, begin + answer repeatedly
    t = tp.Transaction(SERVICE, USER, confdir=confdir, stepwise=True)

    def rt():
        assert t.begin('authenticate') == tp.PAMCode.PAM_CONV_AGAIN
        assert t.answer([PASSWORD]) == 0
    res['stepwise_roundtrip_s'] = 1.0 / rate(rt, n)
    t.end()

    # the seed's way: thread + queues per login over the blocking call
    def thread_queue():
        to_user, from_user = queue.Queue(), queue.Queue()

        def conv_cb(ctx, msgs, priv):
            to_user.put(msgs)
            return from_user.get()

        def worker():
            c = tp.get_context(service_name=SERVICE, user=USER,
                               confdir=confdir, conversation_function=conv_cb)
            try:
                c.authenticate()
                to_user.put(0)
            except tp.PAMError as e:
                to_user.put(int(e.code))
        th = threading.Thread(target=worker)
        th.start()
        msgs = to_user.get()
        from_user.put([PASSWORD for _ in msgs])
        rc = to_user.get()
        th.join()
        assert rc == 0
    res['thread_queue'] = rate(thread_queue, n)

    # thread+queue round trip over one long-lived worker thread
    to_user, from_user, go = queue.Queue(), queue.Queue(), queue.Queue()

    def conv_cb(ctx, msgs, priv):
        to_user.put(msgs)
        return from_user.get()
    ctx = tp.get_context(service_name=SERVICE, user=USER, confdir=confdir,
                         conversation_function=conv_cb)

    def loop():
        while go.get():
            ctx.authenticate()
            to_user.put(0)
    th = threading.Thread(target=loop)
    th.start()

    def rt_q():
        go.put(True)
        to_user.get()
        from_user.put([PASSWORD])
        assert to_user.get() == 0
    res['thread_queue_roundtrip_s'] = 1.0 / rate(rt_q, n)
    go.put(False)
    th.join()
    return res


CHILD = r'''
import json, sys, time
n, user, pw, service = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
import PAM
def conv(auth, query_list, userData):
    return [(pw, 0) for q in query_list]
def pypam():
    p = PAM.pam(); p.start(service); p.set_item(PAM.PAM_USER, user)
    p.set_item(PAM.PAM_CONV, conv); p.authenticate()
import pamela
def pml():
    pamela.authenticate(user, pw, service=service, resetcred=0)
for name, fn in (('python3_pam', pypam), ('python3_pamela', pml)):
    fn(); t0 = time.perf_counter()
    for _ in range(n): fn()
    out[name] = n / (time.perf_counter() - t0)
print(json.dumps(out))
'''


def bench_debian(confdir, n):
    env = dict(os.environ, LD_PRELOAD=WRAPPER, PAM_WRAPPER='1',
               PAM_WRAPPER_SERVICE_DIR=confdir)
    r = subprocess.run(['/usr/bin/python3', '-c', CHILD, str(n), USER,
                        PASSWORD, SERVICE], env=env, capture_output=True,
                       text=True, timeout=300)
    if r.returncode:
        print('debian bindings failed:', r.stderr.strip()[-500:])
        return {}
    return json.loads(r.stdout)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        confdir = setup(tmp)
        res = bench_ours(confdir, n)
        res.update(bench_debian(confdir, n))
    for k, v in res.items():
        unit = 'µs' if k.endswith('_s') else 'auth/s'
        print(f'{k:28s} {v * 1e6 if unit == "µs" else v:12.1f} {unit}')
    print('ratios:')
    rq, rs = res['thread_queue_roundtrip_s'], res['stepwise_roundtrip_s']
    print(f'  stepwise round trip vs thread+queue: {rq / rs:.2f}x faster')
    print(f'  authenticator logins/s vs thread+queue: '
          f'{res["authenticator_stepwise"] / res["thread_queue"]:.2f}x')
    for k in ('python3_pam', 'python3_pamela'):
        if k in res:
            print(f'  txn_blocking vs {k}: '
                  f'{res["txn_blocking"] / res[k]:.2f}x')


if __name__ == '__main__':
    main()
