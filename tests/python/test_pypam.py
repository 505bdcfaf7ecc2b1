"""The seed's low-level API: get_context, PamContext, enums, PAMError."""
import threading

import pytest
import truenas_pypam as tp

from conftest import EVENTS  # noqa: F401


def password_conv(password):
    def conv(ctx, messages, private_data):
        assert isinstance(messages, tuple)
        return [password if m.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF
                else None for m in messages]
    return conv


def ctx_for(matrix, user='alice', password='secret', service='mx', **kw):
    return tp.get_context(service_name=service, user=user,
                          conversation_function=password_conv(password),
                          confdir=str(matrix), **kw)


def test_enums():
    assert tp.PAMCode.PAM_SUCCESS == 0
    assert tp.PAMCode.PAM_AUTH_ERR == 7
    assert tp.PAMCode.PAM_CONV_AGAIN == 30
    assert tp.PAMCode.PAM_INCOMPLETE == 31
    assert len(tp.PAMCode) == 32
    assert [m.name for m in tp.MSGStyle] == [
        'PAM_PROMPT_ECHO_OFF', 'PAM_PROMPT_ECHO_ON', 'PAM_ERROR_MSG',
        'PAM_TEXT_INFO']
    assert tp.MSGStyle.PAM_TEXT_INFO == 4
    assert {c.name for c in tp.CredOp} == {
        'PAM_ESTABLISH_CRED', 'PAM_DELETE_CRED', 'PAM_REINITIALIZE_CRED',
        'PAM_REFRESH_CRED'}
    assert tp.PAM_SILENT == 0x8000
    assert tp.PAM_AUTH_ERR == 7
    assert issubclass(tp.PAMError, RuntimeError)


def test_get_context_bad_arguments(matrix):
    conv = password_conv('x')
    with pytest.raises(ValueError, match='user'):
        tp.get_context(service_name='mx', conversation_function=conv,
                       confdir=str(matrix))
    # no conversation_function: a threaded context (seed project's API)
    ctx = tp.get_context(service_name='mx', user='alice', confdir=str(matrix))
    assert callable(ctx.begin_authentication)
    with pytest.raises(TypeError, match='callable'):
        tp.get_context(service_name='mx', user='alice',
                       conversation_function=None, confdir=str(matrix))
    with pytest.raises(TypeError, match='callable'):
        tp.get_context(service_name='mx', user='alice',
                       conversation_function=42, confdir=str(matrix))
    with pytest.raises(TypeError):
        tp.get_context(service_name='mx', user=5, conversation_function=conv)
    with pytest.raises(TypeError):
        tp.get_context(service_name=b'mx', user='a',
                       conversation_function=conv)
    with pytest.raises(TypeError):
        tp.get_context(service_name='mx', user='a',
                       conversation_function=conv, rhost=1)
    with pytest.raises(TypeError):
        tp.get_context(service_name='mx', user='a',
                       conversation_function=conv, fail_delay='1')
    with pytest.raises(ValueError):
        tp.get_context(service_name='mx', user='a\0b',
                       conversation_function=conv)
    with pytest.raises(TypeError):
        tp.get_context('mx', 'alice', conv)   # keyword-only


def test_right_password(matrix, audit_events):
    ctx = ctx_for(matrix)
    assert ctx.authenticate() is None
    assert ctx.acct_mgmt() is None
    ctx.open_session()
    ctx.close_session()
    names = [e for e, _ in audit_events]
    assert names == ['truenas_pypam.authenticate', 'truenas_pypam.acct_mgmt',
                     'truenas_pypam.open_session',
                     'truenas_pypam.close_session']
    for _, args in audit_events:
        assert args[0] == 'alice'
        assert 'secret' not in repr(args)


def test_wrong_password(matrix):
    ctx = ctx_for(matrix, password='nope')
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    e = ei.value
    assert e.code == tp.PAMCode.PAM_AUTH_ERR
    assert isinstance(e.code, tp.PAMCode)
    assert e.name == 'PAM_AUTH_ERR'
    assert e.err_str == tp.pam_strerror(7)
    assert e.location == 'pam_authenticate'
    assert 'PAM_AUTH_ERR' in str(e) and 'pam_authenticate' in str(e)


def test_deny_and_unknown_user(matrix):
    ctx = tp.get_context(service_name='deny', user='alice',
                         conversation_function=password_conv('x'),
                         confdir=str(matrix))
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    assert ei.value.code == tp.PAMCode.PAM_AUTH_ERR
    # after a failed authentication no session: refused before PAM runs,
    # as truenas/truenas_pypam does
    with pytest.raises(ValueError):
        ctx.open_session()


@pytest.mark.parametrize('bad', ['raise', 'short', 'long', 'type', 'notlist',
                                 'nul'])
def test_callback_errors(matrix, bad):
    class Boom(Exception):
        pass

    def conv(ctx, messages, private):
        if bad == 'raise':
            raise Boom('no')
        if bad == 'short':
            return []
        if bad == 'long':
            return ['secret'] * (len(messages) + 1)
        if bad == 'type':
            return [b'secret'] * len(messages)
        if bad == 'nul':
            return ['sec\0ret'] * len(messages)
        return 42

    ctx = tp.get_context(service_name='mx', user='alice',
                         conversation_function=conv, confdir=str(matrix))
    expected = {'raise': Boom, 'short': ValueError, 'long': ValueError,
                'type': TypeError, 'nul': ValueError,
                'notlist': TypeError}[bad]
    if bad == 'raise':
        # as truenas/truenas_pypam: the callback's exception itself
        with pytest.raises(Boom) as ei:
            ctx.authenticate()
        assert str(ei.value) == 'no'
        assert ei.value.__traceback__ is not None
        return
    # an answer of the wrong shape: PAM_CONV_ERR, our check chained
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    assert ei.value.code != tp.PAMCode.PAM_SUCCESS
    assert isinstance(ei.value.__cause__, expected)


def test_callback_exception_is_the_same_object(matrix):
    boom = RuntimeError('the very one')

    def conv(ctx, messages, private):
        raise boom

    ctx = tp.get_context(service_name='mx', user='alice',
                         conversation_function=conv, confdir=str(matrix))
    with pytest.raises(RuntimeError) as ei:
        ctx.authenticate()
    assert ei.value is boom


@pytest.mark.parametrize('exc', [KeyboardInterrupt, SystemExit])
def test_ctrl_c_in_an_info_message_never_succeeds(matrix, exc):
    """pam_echo's info message, then pam_permit: PAM goes on after a failed
    conversation for an info message; Ctrl-C must still stop the login,
    in PamContext and in the Transaction core."""
    matrix.service('info', ['auth required pam_echo.so hello there',
                            'auth required pam_permit.so'])

    def conv(*args):
        raise exc()

    ctx = tp.get_context(service_name='info', user='alice',
                         conversation_function=conv, confdir=str(matrix))
    with pytest.raises(exc):
        ctx.authenticate()
    t = tp.Transaction('info', 'alice', confdir=str(matrix),
                       conversation=conv)
    with pytest.raises(exc):
        t.call('authenticate')
    t.end()


def test_callback_gets_ctx_and_private_data(matrix):
    seen = []

    def conv(ctx, messages, private):
        seen.append((ctx, private, [(m.msg_style, m.msg) for m in messages]))
        assert ctx.user == 'alice'
        return [private['pw'] for _ in messages]

    priv = {'pw': 'secret'}
    ctx = tp.get_context(service_name='mx', user='alice',
                         conversation_function=conv,
                         conversation_private_data=priv, confdir=str(matrix))
    ctx.authenticate()
    assert seen[0][0] is ctx
    assert seen[0][1] is priv
    assert seen[0][2][0][0] == tp.MSGStyle.PAM_PROMPT_ECHO_OFF
    assert isinstance(seen[0][2][0][0], tp.MSGStyle)


def test_set_conversation(matrix):
    ctx = ctx_for(matrix, password='wrong')
    with pytest.raises(TypeError):
        ctx.set_conversation(conversation_function=1)
    ctx.set_conversation(conversation_function=password_conv('secret'))
    ctx.authenticate()


def test_items(matrix):
    ctx = ctx_for(matrix, rhost='10.0.0.1', ruser='remote')
    assert ctx.user == 'alice'
    assert ctx.service == 'mx'
    assert ctx.rhost == '10.0.0.1'
    assert ctx.ruser == 'remote'
    assert ctx.tty is None
    for name in ('user', 'ruser', 'rhost', 'tty', 'xdisplay',
                 'authtok_type', 'user_prompt'):
        setattr(ctx, name, f'v-{name}')
        assert getattr(ctx, name) == f'v-{name}'
        with pytest.raises(TypeError):
            setattr(ctx, name, 42)
        with pytest.raises(TypeError):
            setattr(ctx, name, None)
        with pytest.raises(TypeError):  # str only, as upstream
            setattr(ctx, name, b'bytes')


def test_env(matrix):
    ctx = ctx_for(matrix)
    ctx.set_env(name='FOO', value='bar')
    assert ctx.get_env('FOO') == 'bar'
    ctx.set_env(name='RO', value='1')
    ctx.set_env(name='RO', value='2', readonly=True)
    assert ctx.get_env('RO') == '1'
    assert ctx.env_dict() == {'FOO': 'bar', 'RO': '1'}
    ctx.set_env(name='FOO')          # no value: unset
    assert ctx.get_env('FOO') is None
    assert ctx.env_dict() == {'RO': '1'}
    with pytest.raises(ValueError):
        ctx.set_env(name='A=B', value='x')
    with pytest.raises(TypeError):
        ctx.set_env(name='X', value=3)
    with pytest.raises(TypeError):      # str only, as upstream
        ctx.set_env(name='X', value=b'bytes')


def test_setcred_ops(matrix, audit_events):
    ctx = tp.get_context(service_name='permit', user='alice',
                         conversation_function=password_conv('x'),
                         confdir=str(matrix))
    ctx.authenticate()
    for op in tp.CredOp:
        ctx.setcred(operation=op)
    ctx.setcred(operation=tp.CredOp.PAM_DELETE_CRED, silent=True)
    # as truenas/truenas_pypam: required, and only a CredOp member
    with pytest.raises(TypeError, match='operation is required'):
        ctx.setcred()
    for bad in (12345, 2, 'x', 'establish', None, [], {}):
        with pytest.raises(TypeError,
                           match='operation must be a CredOp enum member'):
            ctx.setcred(operation=bad)
    ev = [a for e, a in audit_events if e == 'truenas_pypam.setcred']
    assert len(ev) == 5 and all(a[0] == 'alice' for a in ev)
    # the seed project's form: (user, CredOp)
    assert [a[1] for a in ev] == list(tp.CredOp) + [tp.CredOp.PAM_DELETE_CRED]
    assert all(isinstance(a[1], tp.CredOp) for a in ev)


def test_chauthtok(matrix, tmp_path, audit_events):
    answers = {'Old password: ': 'secret'}

    def conv(ctx, messages, private):
        return [answers.get(m.msg, 'n3wpass') if m.msg_style in (
            tp.MSGStyle.PAM_PROMPT_ECHO_OFF, tp.MSGStyle.PAM_PROMPT_ECHO_ON)
            else None for m in messages]

    ctx = tp.get_context(service_name='mx', user='alice',
                         conversation_function=conv, confdir=str(matrix))
    ctx.chauthtok()
    assert ('truenas_pypam.chauthtok', ('alice',)) in audit_events
    # the new password works, the old one no longer does
    ctx_for(matrix, password='n3wpass').authenticate()
    with pytest.raises(tp.PAMError):
        ctx_for(matrix, password='secret').authenticate()


def test_flags_keywords(matrix):
    ctx = ctx_for(matrix)
    ctx.authenticate(silent=True, disallow_null_authtok=True)
    ctx.acct_mgmt(silent=True, disallow_null_authtok=True)
    ctx.open_session(silent=True)
    ctx.close_session(silent=True)
    with pytest.raises(TypeError):
        ctx.authenticate(True)


def test_messages_transcript(matrix):
    ctx = ctx_for(matrix)
    ctx.authenticate()
    m = ctx.messages()
    assert isinstance(m, tuple) and isinstance(m[0], tuple)


def test_seed_low_level_example(matrix, monkeypatch):
    # The README's low-level example, with the confdir added.
    def conversation_callback(ctx, messages, private_data):
        responses = []
        for msg in messages:
            if msg.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF:
                responses.append('hunter2')
            else:
                responses.append(None)
        return responses

    ctx = tp.get_context(service_name='mx', user='bob',
                         conversation_function=conversation_callback,
                         confdir=str(matrix))
    ctx.authenticate()
    ctx.acct_mgmt()
    ctx.open_session()
    ctx.close_session()


def test_32_threads(matrix):
    results = []
    barrier = threading.Barrier(32)

    def worker(i):
        barrier.wait()
        user, pw = ('alice', 'secret') if i % 2 else ('bob', 'hunter2')
        wrong = i % 5 == 0
        ctx = ctx_for(matrix, user=user, password='bad' if wrong else pw)
        for _ in range(5):
            try:
                ctx.authenticate()
                results.append(not wrong)
            except tp.PAMError as e:
                results.append(wrong and e.code == tp.PAMCode.PAM_AUTH_ERR)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(results) == 160 and all(results)


def test_shared_context_threads(matrix):
    ctx = ctx_for(matrix)
    errors = []

    def worker():
        try:
            for _ in range(20):
                ctx.authenticate()
                ctx.set_env(name='T', value='x')
        except Exception as e:    # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert errors == []


def test_session_order_is_checked_before_pam(matrix, audit_events):
    """truenas/truenas_pypam's order: open_session needs a successful
    authenticate, one session at a time, close_session needs an open one;
    each refusal is a ValueError before PAM is called (no audit event)."""
    ctx = tp.get_context(service_name='permit', user='alice',
                         conversation_function=password_conv('x'),
                         confdir=str(matrix))
    audit_events.clear()
    with pytest.raises(ValueError):
        ctx.open_session()
    with pytest.raises(ValueError):
        ctx.close_session()
    assert not [e for e, _ in audit_events if 'session' in e]
    ctx.authenticate()
    ctx.open_session()
    with pytest.raises(ValueError):
        ctx.open_session()              # twice
    ctx.close_session()
    with pytest.raises(ValueError):
        ctx.close_session()             # twice
    ctx.open_session()                  # again after the close: fine
    ctx.close_session()


def test_items_set_inside_the_conversation(confdir, pktest):
    """As truenas/truenas_pypam allows: the conversation function sets
    PAM_RHOST and the module sees it after the prompt; PAM_USER cannot
    change under the module that asked (it may hold the old pointer)."""
    confdir.service('cb', [f'auth required {pktest} setcred=skip '
                           'prompt_off=Password:|pw check_item=rhost:cb.example'])
    errors = []

    def conv(ctx, messages, private):
        ctx.rhost = 'cb.example'
        try:
            ctx.user = 'eve'
        except RuntimeError as e:
            errors.append(e)
        return ['pw' for _ in messages]

    ctx = tp.get_context(service_name='cb', user='alice',
                         conversation_function=conv, confdir=str(confdir))
    ctx.authenticate()
    assert ctx.rhost == 'cb.example'
    assert ctx.user == 'alice' and len(errors) == 1


def test_argument_errors_are_clear(matrix):
    """Each wrong argument gets an exception that says what is wrong."""
    from truenas_authenticator import SimpleAuthenticator, UserPamAuthenticator
    with pytest.raises(TypeError, match='fail_delay must be an int'):
        tp.get_context(service_name='mx', user='alice', fail_delay='x',
                       confdir=str(matrix))
    with pytest.raises(TypeError, match='user must be a str, not int'):
        tp.get_context(service_name='mx', user=5, confdir=str(matrix))
    with pytest.raises(ValueError, match='user is required'):
        tp.get_context(service_name='mx', user=None, confdir=str(matrix))
    with pytest.raises(ValueError, match='authentication_timeout must be'):
        UserPamAuthenticator(username='bob', authentication_timeout=10**9)
    with pytest.raises(TypeError, match='authentication_timeout must be'):
        UserPamAuthenticator(username='bob', authentication_timeout='x')
    with pytest.raises(TypeError, match='password must be a str'):
        SimpleAuthenticator(username='bob', password=b'pw', service='mx')
    t = tp.Transaction('mx', 'alice', confdir=str(matrix))
    with pytest.raises(ValueError, match='unknown PAM operation'):
        t.call('authenticate\0')
    with pytest.raises(TypeError, match='timeout must be'):
        tp.Transaction('mx', 'alice', confdir=str(matrix),
                       stepwise=True).begin('authenticate', timeout='x')
    # step_timeout= and timeout= read seconds the same way (one helper)
    for kw in ('step_timeout', 'timeout'):
        def make(v):
            if kw == 'step_timeout':
                return tp.Transaction('mx', 'alice', confdir=str(matrix),
                                      stepwise=True, step_timeout=v)
            return tp.Transaction('mx', 'alice', confdir=str(matrix),
                                  stepwise=True).begin('authenticate',
                                                       timeout=v)
        for bad in ('5', True, b'1', [1]):
            with pytest.raises(TypeError,
                               match=f'{kw} must be a number of seconds'):
                make(bad)
        for bad in (0, -1, 86400.5, float('nan'), float('inf')):
            with pytest.raises(ValueError,
                               match=f'{kw} must be > 0 and <= 86400 seconds'):
                make(bad)
    t.end()
