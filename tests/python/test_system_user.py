"""As root: a throwaway system user through pam_unix in a private confdir.

Under ASan put libcrypt.so.1 in LD_PRELOAD after libasan: pam_unix loads
libcrypt with dlopen after ASan initialised, and ASan's crypt() interceptor
then calls a NULL "real" crypt (SEGV in pam_unix, not in pamkit).
"""
import os
import secrets
import subprocess

import pytest
import truenas_pypam as tp
from conftest import full_login, prompt_answerer
from truenas_authenticator import SimpleAuthenticator, UserPamAuthenticator

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


@pytest.fixture
def system_user(confdir):
    name = 'pktst' + secrets.token_hex(3)
    password = 'Pw-' + secrets.token_hex(8)
    subprocess.run(['useradd', '--no-create-home', '--shell', '/bin/false',
                    name], check=True)
    try:
        subprocess.run(['chpasswd'], input=f'{name}:{password}\n',
                       text=True, check=True)
        confdir.service('login', [
            'auth required pam_unix.so',
            'account required pam_unix.so',
            'password required pam_unix.so',
            'session required pam_unix.so',
        ])
        yield name, password
    finally:
        subprocess.run(['userdel', '-f', name], check=False)


def test_pam_unix_right_and_wrong(system_user, confdir):
    name, password = system_user

    full_login(tp.get_context(service_name='login', user=name,
                              conversation_function=prompt_answerer,
                              conversation_private_data=password,
                              confdir=str(confdir)))
    bad = tp.get_context(service_name='login', user=name,
                         conversation_function=prompt_answerer,
                         conversation_private_data='wrong',
                         confdir=str(confdir))
    with pytest.raises(tp.PAMError) as ei:
        bad.authenticate()
    assert ei.value.code == tp.PAMCode.PAM_AUTH_ERR


def test_pam_unix_authenticator(system_user, confdir):
    name, password = system_user
    auth = UserPamAuthenticator(username=name, service='login',
                                confdir=str(confdir))
    resp = auth.auth_init()
    assert resp.code == tp.PAMCode.PAM_CONV_AGAIN
    resp = auth.auth_continue([password if m.msg_style ==
                               tp.MSGStyle.PAM_PROMPT_ECHO_OFF else None
                               for m in resp.reason])
    assert resp.code == tp.PAMCode.PAM_SUCCESS
    assert auth.login('s1').code == tp.PAMCode.PAM_SUCCESS
    assert auth.logout().code == tp.PAMCode.PAM_SUCCESS
    assert SimpleAuthenticator(username=name, password=password,
                               service='login',
                               confdir=str(confdir)).authenticate_simple()


def test_pam_unix_threaded_context_and_setcred(system_user, confdir):
    name, password = system_user
    ctx = tp.get_context(service_name='login', user=name,
                         confdir=str(confdir))
    msgs = ctx.begin_authentication(timeout=30)
    assert any(m.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF for m in msgs)
    assert ctx.continue_authentication(
        prompt_answerer(ctx, msgs, password), timeout=30) is None
    for op in tp.CredOp:
        assert ctx.setcred(operation=op) is None
    assert ctx.messages() == (msgs,)
