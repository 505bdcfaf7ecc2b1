"""libpamkit's thread model as the Python APIs see it.

- libpam's fail delay is never dropped: `pam_faildelay delay=1000000`
  makes a wrong password take at least 0.5 s (libpam randomises the delay
  by up to +-50 %) through truenas_pypam's Transaction (blocking and
  stepwise), PamContext, truenas_authenticator and the asyncio helpers,
  and the asyncio loop keeps running meanwhile.
- Blocking calls run PAM on the calling thread; a stepwise operation on a
  borrowed worker (pam_pktest's log= records the thread of every call).
- After fork() a child never closes its parent's session, and a stepwise
  object used there raises at once instead of hanging.
- As root: Debian's own `login` stack (pam_loginuid in its session part)
  through UserPamAuthenticator.login(), the seed's default service.
"""
import asyncio
import os
import secrets
import subprocess
import threading
import time

import pytest
import truenas_pypam as tp
import truenas_pypam_aio as aio
from conftest import prompt_answerer
from truenas_authenticator import SimpleAuthenticator, UserPamAuthenticator

C = tp.PAMCode
MIN_DELAY = 0.5


@pytest.fixture
def delayed(confdir, pktest):
    """Service 'slow': pam_faildelay 1 s before a one-prompt module."""
    return confdir.service('slow', [
        'auth optional pam_faildelay.so delay=1000000',
        f'auth required {pktest} setcred=skip prompt_off=Password:|secret',
        f'account required {pktest}',
        f'session required {pktest}',
    ])


def _wrong(msgs):
    return ['wrong' if m.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF
            else None for m in msgs]


def _timed(fn):
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def test_delay_transaction_blocking_and_stepwise(confdir, delayed):
    for stepwise in (False, True):
        t = tp.Transaction(delayed, 'alice', confdir=str(confdir),
                           conversation=_wrong, stepwise=stepwise)
        rc, took = _timed(lambda: t.call('authenticate'))
        assert rc == C.PAM_AUTH_ERR
        assert took >= MIN_DELAY
        t.end()
    t = tp.Transaction(delayed, 'alice', confdir=str(confdir), stepwise=True)
    assert t.begin('authenticate') == C.PAM_CONV_AGAIN
    rc, took = _timed(lambda: t.answer(['wrong']))
    assert rc == C.PAM_AUTH_ERR
    assert took >= MIN_DELAY
    t.end()


def test_delay_pam_context(confdir, delayed):
    ctx = tp.get_context(service_name=delayed, user='alice',
                         conversation_function=prompt_answerer,
                         conversation_private_data='wrong',
                         confdir=str(confdir))
    t0 = time.monotonic()
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    assert ei.value.code == C.PAM_AUTH_ERR
    assert time.monotonic() - t0 >= MIN_DELAY
    # the seed's stepwise form
    ctx = tp.get_context(service_name=delayed, user='alice',
                         confdir=str(confdir))
    msgs = ctx.begin_authentication(timeout=10)
    t0 = time.monotonic()
    with pytest.raises(tp.PAMError):
        ctx.continue_authentication(_wrong(msgs), timeout=10)
    assert time.monotonic() - t0 >= MIN_DELAY


def test_delay_authenticators(confdir, delayed):
    auth = UserPamAuthenticator(username='alice', service=delayed,
                                confdir=str(confdir))
    resp = auth.auth_init()
    assert resp.code == C.PAM_CONV_AGAIN
    resp, took = _timed(lambda: auth.auth_continue(_wrong(resp.reason)))
    assert resp.code == C.PAM_AUTH_ERR
    assert took >= MIN_DELAY
    simple = SimpleAuthenticator(username='alice', password='wrong',
                                 service=delayed, confdir=str(confdir))
    ok, took = _timed(simple.authenticate_simple)
    assert ok is False
    assert took >= MIN_DELAY


def test_delay_asyncio_does_not_block_the_loop(confdir, delayed):
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    async def login():
        t = tp.Transaction(delayed, 'alice', confdir=str(confdir),
                           stepwise=True)
        try:
            assert await aio.begin(t, 'authenticate') == C.PAM_CONV_AGAIN
            t0 = time.monotonic()
            rc = await aio.answer(t, ['wrong'])
            return rc, t0, time.monotonic()
        finally:
            t.end()

    async def main():
        tick = asyncio.create_task(ticker())
        try:
            return await login()
        finally:
            tick.cancel()

    before = threading.active_count()
    rc, t0, t1 = asyncio.run(main())
    assert rc == C.PAM_AUTH_ERR
    assert t1 - t0 >= MIN_DELAY
    # the loop ran all along: ticks every ~50 ms during the delay
    during = [x for x in ticks if t0 <= x <= t1]
    assert len(during) >= (t1 - t0) / 0.05 * 0.5
    assert threading.active_count() == before   # no Python thread


@pytest.fixture
def traced(confdir, pktest, tmp_path):
    log = tmp_path / 'calls.log'
    confdir.service('traced', [
        f'auth required {pktest} setcred=skip log={log} prompt_off=Password:|secret',
        f'account required {pktest} log={log}',
        f'session required {pktest} log={log}',
    ])
    return 'traced', log


def _calls(log):
    out = []
    for line in log.read_text().splitlines():
        op, *kv = line.split()
        if op != 'SPAN':                    # pam_pktest's timing lines
            out.append((op, dict(x.split('=') for x in kv)))
    return out


def test_where_pam_runs(confdir, traced):
    svc, log = traced
    t = tp.Transaction(svc, 'alice', confdir=str(confdir), stepwise=True,
                       conversation=lambda msgs: ['secret'])
    assert t.begin('authenticate') == C.PAM_CONV_AGAIN
    assert t.answer(['secret']) == C.PAM_SUCCESS
    assert t.call('acct_mgmt') == C.PAM_SUCCESS
    assert t.call('open_session') == C.PAM_SUCCESS
    t.end()
    me = str(threading.get_native_id())
    calls = _calls(log)
    assert [c[0] for c in calls] == ['AUTH', 'ACCT', 'OPEN_SESSION',
                                     'CLOSE_SESSION', 'END']
    assert calls[0][1]['tid'] != me            # the borrowed worker
    assert all(c[1]['tid'] == me for c in calls[1:])


def test_fork_child_never_closes_the_parents_session(confdir, traced):
    svc, log = traced
    objs = []
    t = tp.Transaction(svc, 'alice', confdir=str(confdir),
                       conversation=lambda msgs: ['secret'])
    assert t.call('authenticate') == C.PAM_SUCCESS
    assert t.call('open_session') == C.PAM_SUCCESS
    objs.append(t)
    ctx = tp.get_context(service_name=svc, user='alice',
                         conversation_function=prompt_answerer,
                         conversation_private_data='secret',
                         confdir=str(confdir))
    ctx.authenticate()
    ctx.open_session()
    objs.append(ctx)
    step = tp.Transaction(svc, 'alice', confdir=str(confdir), stepwise=True)
    assert step.begin('authenticate') == C.PAM_CONV_AGAIN

    pid = os.fork()
    if pid == 0:                                # the child
        code = 0
        try:
            t0 = time.monotonic()
            try:
                step.answer(['secret'])
                code = 3
            except RuntimeError as e:
                if 'parent process' not in str(e):
                    code = 4
            if time.monotonic() - t0 > 2:
                code = 5
            t.end()
            del objs[:], ctx
        except BaseException:                   # noqa: BLE001
            code = 6
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    child = [c for c in _calls(log) if c[1]['pid'] == str(pid)]
    assert child and all(c[0] == 'END' and c[1]['silent'] == '1'
                         for c in child)
    # the sessions are still the parent's to close
    assert step.answer(['secret']) == C.PAM_SUCCESS
    assert t.call('close_session') == C.PAM_SUCCESS
    ctx.close_session()
    for o in (t, step):
        o.end()
    closes = [c for c in _calls(log) if c[0] == 'CLOSE_SESSION']
    assert {c[1]['pid'] for c in closes} == {str(os.getpid())}


# ---- as root: Debian's own login stack ------------------------------------

@pytest.fixture
def system_user():
    name = 'pktm' + secrets.token_hex(3)
    password = 'Pw-' + secrets.token_hex(8)
    subprocess.run(['useradd', '-M', '-s', '/bin/sh', name], check=True)
    try:
        subprocess.run(['chpasswd'], input=f'{name}:{password}\n',
                       text=True, check=True)
        yield name, password
    finally:
        subprocess.run(['userdel', '-f', name], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
@pytest.mark.skipif(not os.path.exists('/etc/pam.d/login'),
                    reason='no /etc/pam.d/login')
def test_debian_login_stack_with_pam_loginuid(system_user):
    with open('/etc/pam.d/login') as f:
        assert 'pam_loginuid.so' in f.read()
    name, password = system_user
    auth = UserPamAuthenticator(username=name)        # service='login'
    resp = auth.auth_init()
    assert resp.code == C.PAM_CONV_AGAIN
    resp = auth.auth_continue(
        [password if m.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF else None
         for m in resp.reason])
    assert resp.code == C.PAM_SUCCESS, resp.reason
    assert auth.account_management().code == C.PAM_SUCCESS
    resp = auth.login('s1')
    assert resp.code == C.PAM_SUCCESS, resp.reason
    assert auth.logout().code == C.PAM_SUCCESS
