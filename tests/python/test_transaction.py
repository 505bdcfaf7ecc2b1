"""truenas_pypam.Transaction, the core of every Python front."""
import threading
import time

import pytest
import truenas_pypam as tp

C = tp.PAMCode


def pw(password):
    return lambda msgs: [password if m.msg_style == tp.PAM_PROMPT_ECHO_OFF
                         else None for m in msgs]


def test_blocking_call(matrix):
    t = tp.Transaction('mx', 'alice', confdir=str(matrix),
                       conversation=pw('secret'))
    assert t.call('authenticate') is C.PAM_SUCCESS
    assert t.last_status == C.PAM_SUCCESS
    assert t.call('acct_mgmt', tp.PAM_SILENT) == C.PAM_SUCCESS
    t.set_conversation(pw('bad'))
    assert t.call('authenticate') == C.PAM_AUTH_ERR
    assert t.last_status == C.PAM_AUTH_ERR
    t.end()
    t.end()   # idempotent
    assert t.ended
    with pytest.raises(RuntimeError):
        t.call('authenticate')


def test_bad_arguments(matrix):
    with pytest.raises(TypeError):
        tp.Transaction(1)
    with pytest.raises(ValueError):
        tp.Transaction('')
    with pytest.raises(TypeError):
        tp.Transaction('mx', conversation=3)
    with pytest.raises(ValueError):
        tp.Transaction('mx', stepwise=True, step_timeout=-1)
    t = tp.Transaction('mx', 'alice', confdir=str(matrix))
    with pytest.raises(ValueError):
        t.call('fly')
    with pytest.raises(TypeError):
        t.call(1)
    with pytest.raises(RuntimeError):
        t.begin('authenticate')          # not stepwise
    with pytest.raises(TypeError):
        t.set_item('user', 1)
    with pytest.raises(ValueError):
        t.get_item('nonsense')


def test_conversation_error_kept(matrix):
    def conv(msgs):
        raise KeyError('boom')
    t = tp.Transaction('mx', 'alice', confdir=str(matrix), conversation=conv)
    rc = t.call('authenticate')
    assert rc != C.PAM_SUCCESS
    assert isinstance(t.conversation_error, KeyError)
    t.set_conversation(lambda msgs: ['secret'])
    assert t.call('authenticate') == C.PAM_SUCCESS
    assert t.conversation_error is None


def test_no_conversation_fails_closed(matrix):
    t = tp.Transaction('mx', 'alice', confdir=str(matrix))
    assert t.call('authenticate') != C.PAM_SUCCESS
    assert isinstance(t.conversation_error, RuntimeError)


def test_stepwise_begin_answer(matrix):
    t = tp.Transaction('mx', 'alice', confdir=str(matrix), stepwise=True)
    assert t.stepwise
    rc = t.begin('authenticate')
    assert rc == C.PAM_CONV_AGAIN
    msgs = t.messages
    assert len(msgs) == 1 and msgs[0].msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF
    assert msgs[0].msg == 'Password: '
    with pytest.raises(ValueError):
        t.answer([])                     # wrong length: batch stays
    with pytest.raises(TypeError):
        t.answer([1])
    assert t.answer(['secret']) == C.PAM_SUCCESS
    assert t.begin('authenticate') == C.PAM_CONV_AGAIN
    assert t.answer(['wrong']) == C.PAM_AUTH_ERR
    assert t.call('open_session') == C.PAM_SUCCESS
    assert t.call('close_session') == C.PAM_SUCCESS


def test_start_poll_reply(matrix):
    import select
    t = tp.Transaction('mx', 'bob', confdir=str(matrix), stepwise=True)
    fd = t.fileno()
    assert fd >= 0
    with pytest.raises(RuntimeError):
        t.poll()
    t.start('authenticate')
    select.select([fd], [], [], 5)
    rc = t.poll()
    assert rc == C.PAM_CONV_AGAIN
    t.reply(['hunter2'])
    rc = None
    deadline = time.time() + 5
    while rc is None and time.time() < deadline:
        select.select([fd], [], [], 1)
        rc = t.poll()
    assert rc == C.PAM_SUCCESS


def test_step_timeout(matrix):
    t = tp.Transaction('mx', 'alice', confdir=str(matrix), stepwise=True,
                       step_timeout=0.2)
    assert t.begin('authenticate') == C.PAM_CONV_AGAIN
    time.sleep(0.6)
    import select
    select.select([t.fileno()], [], [], 5)
    rc = t.poll()
    assert rc is not None and rc != C.PAM_SUCCESS
    assert t.last_status == rc
    with pytest.raises(RuntimeError):
        t.answer(['secret'])          # nothing pending any more
    assert t.interrupted == 'timeout'


def test_cancel_from_other_thread(matrix):
    t = tp.Transaction('mx', 'alice', confdir=str(matrix), stepwise=True)
    assert t.begin('authenticate') == C.PAM_CONV_AGAIN
    th = threading.Thread(target=t.cancel)
    th.start()
    th.join()
    import select
    select.select([t.fileno()], [], [], 5)
    rc = t.poll()
    assert rc is not None and rc != C.PAM_SUCCESS
    assert t.interrupted == 'cancelled'


def test_items_env_get_user(matrix):
    t = tp.Transaction('mx', None, confdir=str(matrix), rhost='h', tty='tty1',
                       conversation=lambda msgs: ['carol'] * len(msgs))
    assert t.get_item('rhost') == 'h'
    assert t.get_item('PAM_TTY') == 'tty1'
    assert t.get_item('user') is None
    code, user = t.get_user('login: ')
    assert code == C.PAM_SUCCESS and user == 'carol'
    t.set_item('PAM_USER', 'dave')
    assert t.get_item('user') == 'dave'
    t.setenv('A', '1')
    t.setenv('A', '2', readonly=True)
    assert t.getenv('A') == '1'
    t.setenv('B', 'x')
    assert t.getenvlist() == {'A': '1', 'B': 'x'}
    t.unsetenv('B')
    assert t.getenv('B') is None


def test_bytes_strings_reach_pam_unchanged(matrix):
    """Transaction (pamkit's own class) takes bytes for its strings, so a
    name that is not UTF-8 reaches PAM as it is; read back, the bytes are
    kept in the str (surrogateescape)."""
    t = tp.Transaction(b'mx', b'\xe9mile', confdir=str(matrix),
                       rhost=b'h\xf4te')
    raw = lambda v: v.encode('utf-8', 'surrogateescape')   # noqa: E731
    assert raw(t.get_item('user')) == b'\xe9mile'
    assert raw(t.get_item('rhost')) == b'h\xf4te'
    t.set_item('tty', b'tty\xff')
    assert raw(t.get_item('tty')) == b'tty\xff'
    t.setenv('PLACE', b'caf\xe9')
    assert raw(t.getenv('PLACE')) == b'caf\xe9'
    for bad in (b'a\0b', 'a\0b'):
        with pytest.raises(ValueError):
            t.set_item('tty', bad)
        with pytest.raises(ValueError):
            t.setenv('X', bad)
    with pytest.raises(TypeError):
        t.set_item('tty', 5)
    with pytest.raises(TypeError):
        tp.Transaction(5, confdir=str(matrix))
    with pytest.raises(ValueError):
        tp.Transaction(b'', confdir=str(matrix))


def test_fail_delay_callback(matrix):
    calls = []
    t = tp.Transaction('mx', 'alice', confdir=str(matrix),
                       conversation=pw('bad'), fail_delay=1000,
                       fail_delay_callback=lambda rv, us: calls.append(
                           (rv, us)))
    assert t.call('authenticate') == C.PAM_AUTH_ERR
    assert calls and calls[0][0] == C.PAM_AUTH_ERR


def test_audit_user_first(matrix, audit_events):
    t = tp.Transaction('mx', 'alice', confdir=str(matrix),
                       conversation=pw('secret'), stepwise=True)
    t.call('authenticate')
    t.begin('authenticate')
    t.answer(['secret'])
    assert [e for e, _ in audit_events] == ['truenas_pypam.authenticate'] * 2
    assert all(a[0] == 'alice' and 'secret' not in repr(a)
               for _, a in audit_events)


def test_end_during_blocking_call(matrix):
    holder = {}

    def conv(msgs):
        holder['t'].end()            # the handle is in use: deferred
        assert not holder['t'].ended
        return ['secret' for _ in msgs]

    t = tp.Transaction('mx', 'alice', confdir=str(matrix), conversation=conv)
    holder['t'] = t
    rc = t.call('authenticate')
    assert isinstance(rc, tp.PAMCode)
    assert t.ended                   # ended as the call returned
    with pytest.raises(RuntimeError):
        t.call('authenticate')
