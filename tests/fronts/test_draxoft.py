"""draxoft.auth.pam on the real libpam: the seed's examples and error paths."""
import errno
import gc
import os
import random
import time

import pytest

pytest.importorskip('truenas_pypam')
from draxoft.auth import pam  # noqa: E402


@pytest.fixture
def login(services, monkeypatch):
    """The default service ('login') in a private confdir via $PAMKIT_CONFDIR,
    so pam.handle() runs as the seed writes it."""
    monkeypatch.setenv('PAMKIT_CONFDIR', services.confdir)
    return services


def test_seed_authenticate_unknown_user(login):
    login.add('login', auth=['rc=PAM_USER_UNKNOWN'])
    c = pam.handle()
    c.user = ''.join(random.sample('abcdefghijklmnopqrstuvwxyz', 7))
    assert len(c.user) == 7
    c.conv = lambda style, msg, data: 'password'
    with pytest.raises(pam.PamError) as ei:
        c.authenticate()
    assert str(ei.value).startswith('[Errno %d] ' % pam.PAM_USER_UNKNOWN)
    try:
        c.authenticate()
    except pam.PamError as e:
        assert e.errno == pam.PAM_USER_UNKNOWN
        assert e.strerror and isinstance(e.strerror, str)


def test_authenticate_true_false(services):
    services.add('svc', auth=['prompt_off=Password:|secret'])
    calls = []

    def conv(style, message, data):
        calls.append((style, message, data))
        return data
    h = pam.handle(service='svc', user='alice', conv=conv, data='secret',
                   confdir=services.confdir)
    assert h.authenticate() is True
    assert calls == [(pam.PAM_PROMPT_ECHO_OFF, 'Password:', 'secret')]
    h.data = 'wrong'
    assert h.authenticate() is False
    assert (h.service, h.user) == ('svc', 'alice')


def test_conv_sees_every_message_with_data(services):
    services.add('svc', auth=['info=hello', 'error=careful', 'flush',
                              'prompt_on=Login:|bob'])
    seen = []

    def conv(style, message, data):
        seen.append((style, message, data))
        return 'bob' if style == pam.PAM_PROMPT_ECHO_ON else None
    token = object()
    h = pam.handle(service='svc', user='bob', conv=conv, data=token,
                   confdir=services.confdir)
    assert h.authenticate()
    assert (pam.PAM_TEXT_INFO, 'hello', token) in seen
    assert (pam.PAM_ERROR_MSG, 'careful', token) in seen
    assert (pam.PAM_PROMPT_ECHO_ON, 'Login:', token) in seen


def test_conv_errors_become_conv_err(services):
    services.add('svc', auth=['prompt_off=Password:|secret'])

    def bad_type(style, message, data):
        return 1234

    def raises(style, message, data):
        raise KeyError('no')
    for conv, cause in ((bad_type, TypeError), (raises, KeyError)):
        h = pam.handle(service='svc', user='u', conv=conv,
                       confdir=services.confdir)
        with pytest.raises(pam.PamError) as ei:
            h.authenticate()
        assert ei.value.errno == pam.PAM_CONV_ERR
        assert isinstance(ei.value.__cause__, cause)


def test_default_user_is_the_caller(services):
    import pwd
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    h = pam.handle(service='svc', confdir=services.confdir)
    assert h.user == pwd.getpwuid(os.getuid()).pw_name


def test_phases(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'], account=['rc=PAM_SUCCESS'],
                 session=['set_env=SESSION=1'],
                 password=['prompt_off=New password: |n3w'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir,
                   conv=lambda s, m, d: 'n3w')
    assert h.authenticate(silent=True, disallow_null_token=True)
    h.acct_mgmt()
    h.establish_credentials()
    h.reinitialize_credentials()
    h.refresh_credentials()
    h.open_session()
    assert h.environ['SESSION'] == '1'
    h.change_token()
    h.close_session()
    h.delete_credentials(silent=True)


@pytest.mark.parametrize('method,phase', [
    ('acct_mgmt', 'account'), ('establish_credentials', 'auth'),
    ('delete_credentials', 'auth'), ('reinitialize_credentials', 'auth'),
    ('refresh_credentials', 'auth'), ('open_session', 'session'),
    ('close_session', 'session'), ('change_token', 'password')])
def test_failures_raise_pam_error(services, method, phase):
    services.add('svc', **{phase: ['rc=PAM_PERM_DENIED']})
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    with pytest.raises(pam.PamError) as ei:
        getattr(h, method)()
    assert ei.value.errno == pam.PAM_PERM_DENIED
    assert isinstance(ei.value, OSError)


def test_seed_environ_example(login):
    login.add('login', auth=['rc=PAM_SUCCESS'])
    ctx = pam.handle()
    ctx.environ['answer'] = 42
    assert ctx.environ['answer'] == '42'
    if 'unsetenv' in pam.extensions:
        del ctx.environ['answer']
        assert 'answer' not in ctx.environ
    else:
        assert 'answer' in ctx.environ
    with pytest.raises(KeyError):
        ctx.environ['missing']


def test_environ_safe_after_handle_is_gone(services):
    services.add('svc', auth=['set_env=KEPT=yes'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    assert h.authenticate()
    h.environ['MINE'] = 'v'
    env = h.environ
    del h
    gc.collect()
    assert env['KEPT'] == 'yes' and env['MINE'] == 'v'
    own = {k: v for k, v in dict(env).items() if not k.startswith('PKTEST_')}
    assert own == {'KEPT': 'yes', 'MINE': 'v'}
    assert env['PKTEST_AUTH'] == '1'
    assert len(env) == len(dict(env)) and 'KEPT' in env
    with pytest.raises(pam.PamError):
        env['NEW'] = 'x'
    with pytest.raises(KeyError):
        env['missing']


def test_environ_scrubbed_after_authenticate(services):
    services.add('svc', auth=['set_env=NTLMPWD=hunter2',
                              'set_env=mount_authenticator=x',
                              'set_env=OTHER=kept'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    assert h.authenticate()
    assert 'NTLMPWD' not in h.environ
    assert 'mount_authenticator' not in h.environ
    assert h.environ['OTHER'] == 'kept'


def test_elevated_needs_root(services):
    services.add('svc', auth=['set_env=NTLMPWD=hunter2'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    assert h.elevated is False
    if os.geteuid() == 0:
        # Root may keep the secrets; a forked non-root child may not.
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.seteuid(65534)
                try:
                    h.elevated = True
                except PermissionError as e:
                    code = 0 if e.errno == errno.EACCES else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        h.elevated = True
        assert h.elevated is True
        assert h.authenticate()
        assert h.environ['NTLMPWD'] == 'hunter2'
    else:
        with pytest.raises(OSError) as ei:
            h.elevated = True
        assert ei.value.errno == errno.EACCES
        assert 'Permission denied' in str(ei.value)
        assert h.elevated is False


@pytest.mark.skipif('fail_delay' not in pam.extensions,
                    reason='libpam without pam_fail_delay')
def test_delay_callback_is_wired_to_pam_fail_delay(services):
    services.add('svc', auth=['rc=PAM_AUTH_ERR'])
    got = []
    h = pam.handle(service='svc', user='u', confdir=services.confdir,
                   delay=lambda rc, usec, data: got.append((rc, usec, data)),
                   data='d')
    h.fail_delay(2000000)            # 2 s: must not be slept by libpam
    t0 = time.monotonic()
    assert h.authenticate() is False
    assert time.monotonic() - t0 < 1.5
    assert len(got) == 1
    rc, usec, data = got[0]
    assert rc == pam.PAM_AUTH_ERR and data == 'd'
    assert 0 < usec <= 4000000


@pytest.mark.skipif('fail_delay' not in pam.extensions,
                    reason='libpam without pam_fail_delay')
def test_fail_delay_without_callback_sleeps(services):
    services.add('svc', auth=['rc=PAM_AUTH_ERR'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    assert h.delay is None
    h.fail_delay(200000)
    t0 = time.monotonic()
    assert h.authenticate() is False
    assert time.monotonic() - t0 >= 0.05
    with pytest.raises(ValueError):
        h.fail_delay(-1)


def test_pam_error_is_oserror():
    e = pam.PamError(pam.PAM_AUTH_ERR)
    assert isinstance(e, OSError) and issubclass(pam.PamError, EnvironmentError)
    assert e.errno == pam.PAM_AUTH_ERR
    assert e.strerror == 'Authentication failure'
    assert str(e) == '[Errno %d] Authentication failure' % pam.PAM_AUTH_ERR


def test_constants_and_capabilities():
    for name in ('PAM_SUCCESS', 'PAM_ABORT', 'PAM_ACCT_EXPIRED', 'PAM_AUTH_ERR',
                 'PAM_CONV_ERR', 'PAM_USER_UNKNOWN', 'PAM_TRY_AGAIN',
                 'PAM_IGNORE', 'PAM_PROMPT_ECHO_OFF', 'PAM_TEXT_INFO'):
        assert isinstance(getattr(pam, name), int)
    assert pam.PAM_SUCCESS == 0
    assert pam.implementation == 'Linux-PAM'
    assert {'fail_delay', 'unsetenv'} <= set(pam.extensions)
    assert isinstance(pam.extensions, frozenset)


def test_items(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    for name, value in (('tty', 'tty1'), ('rhost', 'h.example'),
                        ('ruser', 'r'), ('user_prompt', 'who: '),
                        ('user', 'v')):
        setattr(h, name, value)
        assert getattr(h, name) == value
    with pytest.raises(TypeError):
        del h.tty
    del h.conv
    assert h.conv is pam._conv_callback
    with pytest.raises(TypeError):
        pam.handle(service='svc', bogus=1, confdir=services.confdir)


def test_items_refuse_what_is_not_str(services):
    # draxoft.auth.pam 0.1.2's C code parses items with "s": b'h' is a
    # TypeError there, never the string "b'h'"
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    for bad in (b'h', 5, 1.5, ['x']):
        with pytest.raises(TypeError):
            h.rhost = bad
    assert h.rhost is None
    h.rhost = 'h.example'
    assert h.rhost == 'h.example'


def test_environ_null_value_deletes(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    h.environ['K'] = 'v'
    assert h.environ['K'] == 'v'
    h.environ['K'] = '<NULL>'
    assert 'K' not in h.environ
    h.environ['K'] = '<NULL>'           # absent: no error either
    assert 'K' not in h.environ


@pytest.mark.skipif('fail_delay' not in pam.extensions,
                    reason='libpam without pam_fail_delay')
def test_fail_delay_argument_types(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    h = pam.handle(service='svc', user='u', confdir=services.confdir)
    for bad in ('x', 1.5, None, b'1'):
        with pytest.raises(TypeError):
            h.fail_delay(bad)
    for bad in (-1, 2 ** 32):
        with pytest.raises(ValueError):
            h.fail_delay(bad)
    h.fail_delay(0)


@pytest.mark.skipif('fail_delay' not in pam.extensions,
                    reason='libpam without pam_fail_delay')
def test_raising_delay_callback_keeps_result_and_purge(services):
    services.add('svc', auth=['set_env=NTLMPWD=s3cret', 'rc=PAM_AUTH_ERR'])
    seen = []

    def bad_delay(rc, usec, data):
        raise RuntimeError('delay callback failed')

    import sys
    old = sys.unraisablehook
    sys.unraisablehook = lambda args: seen.append(args.exc_value)
    try:
        h = pam.handle(service='svc', user='u', confdir=services.confdir,
                       delay=bad_delay)
        h.fail_delay(1000)
        assert h.authenticate() is False    # the result is not lost
    finally:
        sys.unraisablehook = old
    assert len(seen) == 1 and 'delay callback failed' in str(seen[0])
    assert 'NTLMPWD' not in h.environ      # and the purge ran
