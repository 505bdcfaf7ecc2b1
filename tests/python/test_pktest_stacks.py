"""Both modules against scripted stacks of the project's pam_pktest.so:
multi-prompt conversations, chauthtok, every setcred op, the PAM
environment, items, callback errors (exactly PAM_CONV_ERR, exception
chained) and abandoned logins leaking nothing."""
import asyncio
import gc
import threading
import time
import tracemalloc
import weakref

import pytest
import truenas_pypam as tp
import truenas_pypam_aio as aio
from conftest import fd_count, thread_count
from truenas_authenticator import UserPamAuthenticator

C = tp.PAMCode
S = tp.MSGStyle
ANSWERS = {'Password: ': 'pw', 'OTP:': '123456', 'Login:': 'alice',
           'New password: ': 'new1', 'Retype new password: ': 'new1'}


def answer(msgs):
    return [ANSWERS.get(m.msg, '?') if m.msg_style in (
        S.PAM_PROMPT_ECHO_OFF, S.PAM_PROMPT_ECHO_ON) else None for m in msgs]


@pytest.fixture
def stack(confdir, pktest):
    """Service 'stk': banner + password in one batch, then OTP; account
    asks for a new password; chauthtok with retype; a session that sets env
    and says welcome."""
    return confdir.service('stk', [
        f'auth required {pktest} setcred=skip [info=Hello there] '
        f'[prompt_off=Password: |pw] flush prompt_on=OTP:|123456',
        f'auth required {pktest} setcred=run',
        f'account required {pktest} rc=PAM_NEW_AUTHTOK_REQD',
        f'password required {pktest} [prompt_off=New password: |new1] '
        f'set_authtok [prompt_off=Retype new password: |new1] authtok=new1',
        f'session required {pktest} set_env=HOME_READY=1 '
        f'[info=welcome back]',
    ])


def ctx_for(confdir, service, conv=None, **kw):
    seen = []

    def record(ctx, msgs, priv):
        seen.append([(m.msg_style, m.msg) for m in msgs])
        return (conv or answer)(msgs)
    ctx = tp.get_context(service_name=service, user='alice',
                         conversation_function=record, confdir=str(confdir),
                         **kw)
    return ctx, seen


def test_multi_prompt_blocking(confdir, stack):
    ctx, seen = ctx_for(confdir, stack)
    ctx.authenticate()
    assert seen == [[(S.PAM_TEXT_INFO, 'Hello there'),
                     (S.PAM_PROMPT_ECHO_OFF, 'Password: ')],
                    [(S.PAM_PROMPT_ECHO_ON, 'OTP:')]]
    assert ctx.get_env('PKTEST_AUTH') == '1'
    with pytest.raises(tp.PAMError) as ei:
        ctx.acct_mgmt()
    assert ei.value.code == C.PAM_NEW_AUTHTOK_REQD
    assert ei.value.location == 'pam_acct_mgmt'


def test_multi_prompt_wrong_second_answer(confdir, stack):
    ctx, _ = ctx_for(confdir, stack, conv=lambda msgs: [
        'wrong' if m.msg == 'OTP:' else a for m, a in zip(msgs,
                                                          answer(msgs))])
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    assert ei.value.code == C.PAM_AUTH_ERR


def test_multi_prompt_authenticator(confdir, stack):
    auth = UserPamAuthenticator(username='alice', service=stack,
                                confdir=str(confdir))
    r = auth.auth_init()
    assert r.code == C.PAM_CONV_AGAIN
    assert [m.msg_style for m in r.reason] == [S.PAM_TEXT_INFO,
                                               S.PAM_PROMPT_ECHO_OFF]
    r = auth.auth_continue(answer(r.reason))
    assert r.code == C.PAM_CONV_AGAIN
    assert [m.msg for m in r.reason] == ['OTP:']
    r = auth.auth_continue(answer(r.reason))
    assert r.code == C.PAM_SUCCESS
    r = auth.account_management()
    assert r.code == C.PAM_NEW_AUTHTOK_REQD
    assert 'PAM_NEW_AUTHTOK_REQD' in r.reason
    assert auth.login('s-1').code == C.PAM_SUCCESS
    assert auth.ctx.getenv('HOME_READY') == '1'
    assert auth.ctx.getenv('XDG_SESSION_ID') == 's-1'
    assert auth.logout().code == C.PAM_SUCCESS


def test_multi_prompt_asyncio(confdir, stack):
    async def main():
        t = tp.Transaction(stack, 'alice', confdir=str(confdir),
                           stepwise=True)
        batches = []

        def responder(msgs):
            batches.append([m.msg for m in msgs])
            return answer(msgs)
        try:
            return await aio.run(t, 'authenticate', responder), batches
        finally:
            t.end()

    rc, batches = asyncio.run(main())
    assert rc == C.PAM_SUCCESS
    assert batches == [['Hello there', 'Password: '], ['OTP:']]


def test_chauthtok(confdir, stack, audit_events):
    ctx, seen = ctx_for(confdir, stack)
    ctx.chauthtok()
    assert [m for b in seen for _, m in b] == ['New password: ',
                                              'Retype new password: ']
    assert ctx.get_env('PKTEST_CHAUTHTOK') == 'update'
    assert ctx.get_env('PKTEST_CALLS_CHAUTHTOK') == '2'
    ctx.chauthtok(change_expired_authtok=True, silent=True)
    assert ctx.get_env('PKTEST_SILENT') == '1'
    assert ('truenas_pypam.chauthtok', ('alice',)) in audit_events
    for _, args in audit_events:
        assert 'new1' not in repr(args)


def test_chauthtok_mismatch(confdir, stack):
    ctx, _ = ctx_for(confdir, stack, conv=lambda msgs: [
        'other' if m.msg.startswith('Retype') else 'new1' for m in msgs])
    with pytest.raises(tp.PAMError) as ei:
        ctx.chauthtok()
    assert ei.value.code != C.PAM_SUCCESS
    assert ei.value.location == 'pam_chauthtok'


@pytest.mark.parametrize('op,name', [
    (tp.CredOp.PAM_ESTABLISH_CRED, 'establish'),
    (tp.CredOp.PAM_DELETE_CRED, 'delete'),
    (tp.CredOp.PAM_REINITIALIZE_CRED, 'reinit'),
    (tp.CredOp.PAM_REFRESH_CRED, 'refresh'),
])
def test_setcred_ops_reach_the_module(confdir, stack, op, name,
                                      audit_events):
    ctx, _ = ctx_for(confdir, stack)
    ctx.authenticate()
    ctx.setcred(operation=op)
    assert ctx.get_env('PKTEST_SETCRED') == name
    assert ctx.get_env('PKTEST_SILENT') is None
    ctx.setcred(operation=op, silent=True)
    assert ctx.get_env('PKTEST_SILENT') == '1'
    assert ctx.get_env('PKTEST_CALLS_SETCRED') == '4'   # two auth lines
    ev = [a for e, a in audit_events if e == 'truenas_pypam.setcred']
    assert ev == [('alice', op), ('alice', op)]


def test_env_through_the_stack(confdir, stack):
    ctx, seen = ctx_for(confdir, stack)
    ctx.set_env(name='FROM_APP', value='yes')
    ctx.authenticate()          # a session needs it (truenas_pypam's order)
    ctx.open_session()
    assert ctx.get_env('HOME_READY') == '1'
    assert seen[-1] == [(S.PAM_TEXT_INFO, 'welcome back')]
    env = ctx.env_dict()
    assert env['FROM_APP'] == 'yes'
    assert env['PKTEST_SESSION'] == 'open'
    ctx.close_session()
    assert ctx.get_env('PKTEST_SESSION') == 'closed'


def test_items_seen_and_set_by_the_module(confdir, pktest):
    svc = confdir.service('items', [
        f'auth required {pktest} setcred=skip check_item=rhost:10.1.1.1 '
        f'check_item=ruser:remote set_item=tty:pts/7 '
        f'set_item=xdisplay::0'])
    ctx = tp.get_context(service_name=svc, user='alice', rhost='10.1.1.1',
                         ruser='remote', conversation_function=lambda *a: [],
                         confdir=str(confdir))
    assert ctx.tty is None
    ctx.authenticate()
    assert ctx.tty == 'pts/7'
    assert ctx.xdisplay == ':0'
    ctx.rhost = '10.9.9.9'
    with pytest.raises(tp.PAMError):
        ctx.authenticate()          # the module checks the new rhost
    for bad in (1, None, b'x', ['x']):
        with pytest.raises(TypeError):
            ctx.tty = bad


@pytest.mark.parametrize('bad', ['raise', 'short', 'long', 'types',
                                 'notlist', 'nul'])
def test_callback_errors_are_conv_err(confdir, stack, bad):
    class Boom(Exception):
        pass

    def conv(msgs):
        if bad == 'raise':
            raise Boom('no')
        if bad == 'short':
            return answer(msgs)[:-1]
        if bad == 'long':
            return answer(msgs) + ['x']
        if bad == 'types':
            return [b'pw' for _ in msgs]
        if bad == 'nul':
            return ['p\0w' for _ in msgs]
        return None

    ctx, _ = ctx_for(confdir, stack, conv=conv)
    expected = {'raise': Boom, 'short': ValueError, 'long': ValueError,
                'types': TypeError, 'nul': ValueError,
                'notlist': TypeError}[bad]
    if bad == 'raise':
        # the callback's own exception propagates unchanged (upstream)
        with pytest.raises(Boom):
            ctx.authenticate()
    else:
        with pytest.raises(tp.PAMError) as ei:
            ctx.authenticate()
        assert ei.value.code == C.PAM_CONV_ERR
        assert isinstance(ei.value.__cause__, expected)
    # the context stays usable: a good callback succeeds afterwards
    ctx.set_conversation(conversation_function=lambda c, m, p: answer(m))
    ctx.authenticate()


def test_32_threads_multi_prompt(confdir, stack):
    barrier = threading.Barrier(32)
    results = []

    def worker(i):
        ctx, _ = ctx_for(confdir, stack)
        barrier.wait()
        for _ in range(3):
            try:
                ctx.authenticate()
                results.append(True)
            except tp.PAMError:
                results.append(False)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert len(results) == 96 and all(results)


def test_asyncio_200_no_python_threads(confdir, stack):
    async def one(i):
        t = tp.Transaction(stack, 'alice', confdir=str(confdir),
                           stepwise=True)
        try:
            return await aio.run(t, 'authenticate', answer)
        finally:
            t.end()

    async def main():
        before = threading.active_count()
        res = await asyncio.gather(*(one(i) for i in range(200)))
        return res, before, threading.active_count()

    res, before, after = asyncio.run(main())
    assert res == [C.PAM_SUCCESS] * 200
    assert after == before          # no Python thread per login


def test_abandoned_mid_conversation_leaks_nothing(confdir, stack):
    refs = []

    def churn(n):
        for _ in range(n):
            a = UserPamAuthenticator(username='alice', service=stack,
                                     confdir=str(confdir))
            assert a.auth_init().code == C.PAM_CONV_AGAIN
            refs.append(weakref.ref(a.ctx))
            a.cycle = a               # only the cycle collector frees it
            del a
        gc.collect()

    churn(10)                          # warm the worker pool and caches
    time.sleep(0.2)
    fds, threads = fd_count(), thread_count()
    tracemalloc.start()
    try:
        snap0 = tracemalloc.take_snapshot()
        churn(200)
        deadline = time.time() + 10
        while time.time() < deadline and fd_count() > fds:
            time.sleep(0.05)
        gc.collect()
        snap1 = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert all(r() is None for r in refs)      # every Transaction freed
    assert fd_count() <= fds
    assert thread_count() <= threads + 16      # idle pool workers only
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, 'filename'))
    assert grown < 200 * 1024, grown           # < 1 KiB per abandoned login
