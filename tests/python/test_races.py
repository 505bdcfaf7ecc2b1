"""Races between threads sharing one stepwise Transaction.

Transaction.messages/.transcript used to take libpamkit's pointers, drop the
GIL and only then build Python strings from them: another thread's reply(),
cancel() or start() (or the worker) could free the batch in between.  These
loops hammer exactly that; run under the ASan build they fault on the old
code.  Every reader also checks what it read.
"""
import threading

import pytest

import truenas_pypam as tp
from truenas_pypam import PAMCode as C

S = tp.MSGStyle
LONG = 'P' * 200 + ': '
ROUNDS = 150


@pytest.fixture
def chatty(confdir, pktest):
    return confdir.service('chat', [
        f'auth required {pktest} setcred=skip [info=hello one] '
        f'[info=hello two] [prompt_off={LONG}|pw] flush '
        f'[info=hello three] [prompt_on=OTP:|123456]',
    ])


def _reader(t, stop, errors, attr):
    ok = {LONG, 'OTP:', 'hello one', 'hello two', 'hello three'}
    try:
        while not stop.is_set():
            for m in getattr(t, attr):
                if m.msg not in ok:
                    errors.append(repr(m.msg))
    except Exception as e:          # noqa: BLE001 - reported below
        errors.append(repr(e))


@pytest.mark.parametrize('attr', ['messages', 'transcript'])
def test_read_while_another_thread_replies(confdir, chatty, attr):
    t = tp.Transaction(chatty, 'alice', confdir=str(confdir), stepwise=True)
    stop, errors = threading.Event(), []
    readers = [threading.Thread(target=_reader, args=(t, stop, errors, attr))
               for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for _ in range(ROUNDS):
            assert t.begin('authenticate') == C.PAM_CONV_AGAIN
            assert t.answer([None, None, 'pw']) == C.PAM_CONV_AGAIN
            assert t.answer([None, '123456']) == C.PAM_SUCCESS
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert errors == []
    t.end()


def test_read_while_another_thread_cancels(confdir, chatty):
    t = tp.Transaction(chatty, 'alice', confdir=str(confdir), stepwise=True)
    stop, errors = threading.Event(), []
    reader = threading.Thread(target=_reader,
                              args=(t, stop, errors, 'messages'))
    reader.start()
    try:
        for _ in range(ROUNDS):
            assert t.begin('authenticate') == C.PAM_CONV_AGAIN
            t.cancel()
            rc = t.answer([None, None, 'pw']) if t.messages else None
            while rc is None or rc == C.PAM_CONV_AGAIN:
                rc = t.poll()
            assert rc != C.PAM_SUCCESS
            assert t.interrupted == 'cancelled'
    finally:
        stop.set()
        reader.join()
    assert errors == []
    t.end()


def test_end_while_other_threads_call(confdir, chatty):
    """end() from one thread while others are inside quick calls on the
    same object: the handle must outlive every call already under way."""
    for _ in range(ROUNDS // 3):
        t = tp.Transaction(chatty, 'alice', confdir=str(confdir),
                           stepwise=True)
        assert t.begin('authenticate') == C.PAM_CONV_AGAIN
        go, errors = threading.Barrier(3), []

        def poke():
            go.wait()
            try:
                for _ in range(200):
                    t.messages
                    t.transcript
                    t.interrupted
                    try:
                        t.poll()
                        t.get_item('user')
                    except RuntimeError:
                        pass            # ended meanwhile: that is fine
            except Exception as e:      # noqa: BLE001
                errors.append(repr(e))

        th = [threading.Thread(target=poke) for _ in range(2)]
        for x in th:
            x.start()
        go.wait()
        t.end()
        for x in th:
            x.join()
        assert errors == []
        assert t.messages == []


def test_blocking_call_owns_its_batch(confdir, chatty):
    """While a blocking call's callback handles a batch on the caller's
    thread, another thread neither sees it in .messages nor answers it (it
    is no stepwise batch: nothing waits for a reply); inside the callback
    .messages shows it."""
    inside, release, seen = threading.Event(), threading.Event(), []

    def conv(msgs):
        seen.append([m.msg for m in t.messages])
        inside.set()
        release.wait(10)
        return ['pw' if m.msg == LONG else '123456' if m.msg == 'OTP:'
                else None for m in msgs]

    t = tp.Transaction(chatty, 'alice', confdir=str(confdir), stepwise=True,
                       conversation=conv)
    res = []
    th = threading.Thread(target=lambda: res.append(t.call('authenticate')))
    th.start()
    try:
        assert inside.wait(10)
        assert t.messages == []
        with pytest.raises(RuntimeError, match='no conversation is waiting'):
            t.reply([None, None, 'pw'])
    finally:
        release.set()
        th.join()
    assert res == [C.PAM_SUCCESS]
    assert seen[0] == ['hello one', 'hello two', LONG]
    assert [m.msg for m in t.transcript] == ['hello one', 'hello two',
                                             'hello three']
    t.end()
