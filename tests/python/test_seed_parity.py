"""Where the seed README is silent: the public API of truenas/truenas_pypam
(contexts without a conversation function, messages() history, audit
arguments, error messages), so its users can swap this module in."""
import time

import pytest
import truenas_pypam as tp
import truenas_authenticator

S = tp.MSGStyle


def pw_replies(msgs, password):
    return [password if m.msg_style == S.PAM_PROMPT_ECHO_OFF else None
            for m in msgs]


@pytest.fixture
def two_rounds(confdir, pktest):
    """Service 'otp': Password then OTP, two conversation calls."""
    return confdir.service('otp', [
        f'auth required {pktest} setcred=skip [prompt_off=Password: |pw] '
        f'flush prompt_off=OTP:|123456',
        f'account required {pktest}',
        f'session required {pktest}',
    ])


def threaded(confdir, service, user='alice', **kw):
    return tp.get_context(service_name=service, user=user,
                          confdir=str(confdir), **kw)


def test_threaded_context_two_rounds(confdir, two_rounds):
    ctx = threaded(confdir, two_rounds)
    assert ctx.messages() == ()
    msgs = ctx.begin_authentication()
    assert isinstance(msgs, tuple) and len(msgs) == 1
    assert isinstance(msgs[0], tp.struct_pam_message)
    assert msgs[0].msg_style is S.PAM_PROMPT_ECHO_OFF
    assert msgs[0].msg == 'Password: '
    assert ctx.messages() == (msgs,)
    msgs2 = ctx.continue_authentication(['pw'])
    assert [m.msg for m in msgs2] == ['OTP:']
    assert ctx.continue_authentication(['123456']) is None
    assert ctx.messages() == (msgs, msgs2)
    # the handle stays usable for the rest of the login
    ctx.acct_mgmt()
    ctx.open_session()
    ctx.close_session()


def test_threaded_wrong_answer_raises_pam_error(confdir, two_rounds):
    ctx = threaded(confdir, two_rounds)
    msgs = ctx.begin_authentication()
    with pytest.raises(tp.PAMError) as ei:
        ctx.continue_authentication(pw_replies(msgs, 'nope'))
    assert ei.value.code == tp.PAMCode.PAM_AUTH_ERR
    assert ei.value.location == 'pam_authenticate'


def test_threaded_misuse(confdir, two_rounds, matrix):
    ctx = threaded(confdir, two_rounds)
    with pytest.raises(RuntimeError, match='no conversation pending'):
        ctx.continue_authentication([])
    with pytest.raises(ValueError, match='300'):
        ctx.begin_authentication(timeout=301)
    msgs = ctx.begin_authentication()
    with pytest.raises(RuntimeError, match='already in progress'):
        ctx.begin_authentication()
    with pytest.raises(ValueError):
        ctx.continue_authentication([])        # wrong length: batch stays
    with pytest.raises(TypeError):
        ctx.continue_authentication([1])
    with pytest.raises(RuntimeError, match='only available'):
        ctx.set_conversation(conversation_function=lambda *a: [])
    assert ctx.continue_authentication(pw_replies(msgs, 'pw')) is not None
    # a context with a conversation function has no stepwise calls
    cb = tp.get_context(service_name='mx', user='alice',
                        conversation_function=lambda c, m, p: [],
                        confdir=str(matrix))
    with pytest.raises(RuntimeError, match='without a conversation'):
        cb.begin_authentication()
    with pytest.raises(RuntimeError, match='without a conversation'):
        cb.continue_authentication([])


def test_threaded_timeout(confdir, pktest):
    svc = confdir.service('slow', [
        f'auth required {pktest} setcred=skip delay_ms=1500 '
        f'prompt_off=Password:|pw'])
    ctx = threaded(confdir, svc)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match='authentication timed out'):
        ctx.begin_authentication(timeout=1)
    assert 0.9 < time.monotonic() - t0 < 10
    with pytest.raises(RuntimeError):
        ctx.continue_authentication(['pw'])


def test_threaded_blocking_call_without_conversation(confdir, two_rounds):
    ctx = threaded(confdir, two_rounds)
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    assert ei.value.code == tp.PAMCode.PAM_CONV_ERR
    assert isinstance(ei.value.__cause__, RuntimeError)


def test_threaded_audit(confdir, two_rounds, audit_events):
    ctx = threaded(confdir, two_rounds)
    msgs = ctx.begin_authentication()
    ctx.continue_authentication(pw_replies(msgs, 'pw'))
    assert audit_events == [('truenas_pypam.authenticate', ('alice',))]


def test_pam_context_constructor(matrix):
    ctx = tp.PamContext(service_name='mx', user='alice',
                        conversation_function=lambda c, m, p:
                        pw_replies(m, 'secret'), confdir=str(matrix))
    assert isinstance(ctx, tp.PamContext)
    ctx.authenticate()
    with pytest.raises(TypeError):
        tp.PamContext('mx', 'alice')
    with pytest.raises(ValueError, match='user is required'):
        tp.PamContext(service_name='mx')


def test_messages_history_callback_context(matrix):
    ctx = tp.get_context(service_name='mx', user='alice',
                         conversation_function=lambda c, m, p:
                         pw_replies(m, 'secret'), confdir=str(matrix))
    assert ctx.messages() == ()
    ctx.authenticate()
    ctx.authenticate()
    history = ctx.messages()
    assert len(history) == 2
    for batch in history:
        assert isinstance(batch, tuple)
        assert batch[0].msg_style == S.PAM_PROMPT_ECHO_OFF


def test_error_messages_as_seed_project(matrix):
    ctx = tp.get_context(service_name='mx', user='alice',
                         conversation_function=lambda c, m, p: [],
                         confdir=str(matrix))
    with pytest.raises(TypeError, match='^user must be a string$'):
        ctx.user = 1
    with pytest.raises(TypeError, match='^rhost must be a string$'):
        ctx.rhost = b'h'
    with pytest.raises(TypeError, match='Cannot delete ruser attribute'):
        del ctx.ruser
    with pytest.raises(ValueError, match='conversation_function is required'):
        ctx.set_conversation()
    with pytest.raises(TypeError, match='conversation_function must be '
                       'callable'):
        ctx.set_conversation(conversation_function='x')
    with pytest.raises(tp.PAMError) as ei:
        ctx.authenticate()
    assert str(ei.value).startswith('[PAM_')


def test_authenticator_names():
    assert truenas_authenticator.AccountFlag.TWOFACTOR == '2FA'
    assert {f.name for f in truenas_authenticator.AccountFlag} >= {
        'SYS_ADMIN', 'DIRECTORY_SERVICE', 'LOCAL', 'ACTIVE_DIRECTORY', 'IPA',
        'LDAP', 'TWOFACTOR', 'API_KEY', 'OTPW', 'PASSWORD_CHANGE_REQUIRED'}
    st = truenas_authenticator.AuthenticatorState()
    assert st.otpw_possible and st.twofactor_possible
    assert truenas_authenticator.__version__


def test_threaded_context_dropped_mid_conversation(confdir, two_rounds):
    import gc
    import weakref
    from conftest import fd_count

    def one():
        holder = []
        ctx = threaded(confdir, two_rounds, conversation_private_data=holder)
        holder.append(ctx)          # a cycle: only the collector frees it
        assert ctx.begin_authentication()
        return weakref.ref(ctx)

    one()
    gc.collect()
    fds = fd_count()
    refs = [one() for _ in range(50)]
    gc.collect()
    assert all(r() is None for r in refs)
    deadline = time.time() + 5
    while time.time() < deadline and fd_count() > fds:
        time.sleep(0.05)
    assert fd_count() <= fds


REFUSE = []


def _refusing_hook(event, args):
    if REFUSE and event == 'truenas_pypam.authenticate':
        raise PermissionError('refused by audit hook')


def test_audit_hook_can_refuse_and_begin_is_retryable(confdir, two_rounds):
    import sys
    sys.addaudithook(_refusing_hook)   # process-wide; inert unless REFUSE
    ctx = threaded(confdir, two_rounds)
    REFUSE.append(1)
    try:
        with pytest.raises(PermissionError):
            ctx.begin_authentication()
    finally:
        REFUSE.clear()
    msgs = ctx.begin_authentication()
    assert msgs[0].msg == 'Password: '
