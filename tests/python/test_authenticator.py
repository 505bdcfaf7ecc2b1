"""truenas_authenticator on the stepwise core."""
import gc
import time

import pytest
import truenas_pypam
from conftest import fd_count, thread_count
from truenas_authenticator import (AuthenticatorResponse, AuthenticatorStage,
                                   SimpleAuthenticator, UserPamAuthenticator)

C = truenas_pypam.PAMCode


def answer(resp, password):
    return [password if m.msg_style ==
            truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_OFF else None
            for m in resp.reason]


def test_stages_enum():
    assert [s.name for s in AuthenticatorStage] >= ['START', 'AUTH']
    for n in ('START', 'AUTH', 'LOGIN', 'LOGOUT', 'OPEN_SESSION',
              'CLOSE_SESSION'):
        assert AuthenticatorStage[n] == n


def test_seed_flow(matrix):
    auth = UserPamAuthenticator(username='bob', service='mx',
                                confdir=str(matrix))
    resp = auth.auth_init()
    assert isinstance(resp, AuthenticatorResponse)
    assert resp.code == truenas_pypam.PAMCode.PAM_CONV_AGAIN
    assert resp.stage == AuthenticatorStage.AUTH
    resp = auth.auth_continue(answer(resp, 'hunter2'))
    assert resp.code == truenas_pypam.PAMCode.PAM_SUCCESS
    assert resp.user_info['pw_name'] == 'bob'
    assert auth.account_management().code == C.PAM_SUCCESS
    r = auth.login('session123')
    assert r.code == C.PAM_SUCCESS and r.stage == AuthenticatorStage.LOGIN
    assert auth.login_at is not None
    assert auth.state.stage == AuthenticatorStage.LOGOUT
    r = auth.logout()
    assert r.code == C.PAM_SUCCESS and r.stage == AuthenticatorStage.LOGOUT
    assert auth.state.stage == AuthenticatorStage.START


def test_wrong_password(matrix):
    auth = UserPamAuthenticator(username='bob', service='mx',
                                confdir=str(matrix))
    resp = auth.auth_init()
    resp = auth.auth_continue(answer(resp, 'nope'))
    assert resp.code == C.PAM_AUTH_ERR
    assert 'PAM_AUTH_ERR' in resp.reason
    assert auth.state.stage == AuthenticatorStage.START
    assert auth.ctx is None


def test_wrong_stage(matrix):
    auth = UserPamAuthenticator(username='bob', service='mx',
                                confdir=str(matrix))
    with pytest.raises(RuntimeError):
        auth.auth_continue(['x'])
    with pytest.raises(RuntimeError):
        auth.login()
    with pytest.raises(RuntimeError):
        auth.logout()
    with pytest.raises(RuntimeError):
        auth.account_management()
    auth.auth_init()
    with pytest.raises(RuntimeError):
        auth.auth_init()
    auth.end()


def test_timeout_is_for_pam_not_the_user(matrix, pktest):
    """authentication_timeout as in truenas/truenas_pypam: how long
    auth_init/auth_continue wait for PAM to come back, not how long the
    user may take to answer."""
    auth = UserPamAuthenticator(username='bob', service='mx',
                                confdir=str(matrix),
                                authentication_timeout=0.2)
    resp = auth.auth_init()
    assert resp.code == C.PAM_CONV_AGAIN
    time.sleep(0.5)                         # the user thinks: fine
    resp = auth.auth_continue(answer(resp, 'hunter2'))
    assert resp.code == C.PAM_SUCCESS
    # a module that works 400 ms after the answer before it asks again:
    # PAM is too slow for 0.15 s; the operation is cancelled (cooperatively:
    # the module's next conversation fails) and the login ends
    matrix.service('slowmod', [f'auth required {pktest} setcred=skip '
                               'prompt_off=Password:|pw delay_ms=400 '
                               'prompt_off=OTP:|1'])
    auth = UserPamAuthenticator(username='bob', service='slowmod',
                                confdir=str(matrix),
                                authentication_timeout=0.15)
    resp = auth.auth_init()
    assert resp.code == C.PAM_CONV_AGAIN
    t0 = time.monotonic()
    resp = auth.auth_continue(['pw'])
    assert resp.code == C.PAM_SYSTEM_ERR
    assert 'timeout' in resp.reason
    assert time.monotonic() - t0 < 1.0
    assert auth.ctx is None                 # ended


def test_pam_env(matrix):
    auth = UserPamAuthenticator(username='bob', service='mx',
                                confdir=str(matrix), pam_env={'K': 'v'})
    auth.auth_init()
    assert auth.ctx.getenv('K') == 'v'
    auth.end()


def test_simple(matrix):
    auth = SimpleAuthenticator(username='bob', password='hunter2',
                               service='mx', confdir=str(matrix))
    assert auth.authenticate_simple()
    assert auth.password is None
    bad = SimpleAuthenticator(username='bob', password='x', service='mx',
                              confdir=str(matrix))
    assert not bad.authenticate_simple()


def test_abandoned_authenticators_leak_nothing(matrix):
    def churn(n):
        for _ in range(n):
            a = UserPamAuthenticator(username='bob', service='mx',
                                     confdir=str(matrix))
            assert a.auth_init().code == C.PAM_CONV_AGAIN
            a.self_ref = a        # a cycle: only the GC frees it
            del a
        gc.collect()

    churn(10)                      # warm the worker pool
    time.sleep(0.2)
    fds, threads = fd_count(), thread_count()
    churn(100)
    deadline = time.time() + 5
    while time.time() < deadline and fd_count() > fds:
        time.sleep(0.05)
    assert fd_count() <= fds
    assert thread_count() <= threads + 16
