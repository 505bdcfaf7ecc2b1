"""asyncio forms of truenas_pypam.Transaction operations.

No thread per login: a stepwise Transaction's worker is libpamkit's, and the
event loop waits on Transaction.fileno() with loop.add_reader.  Also reachable
as ``truenas_pypam.aio``.
"""

import asyncio
import inspect

import truenas_pypam

__all__ = ['wait', 'begin', 'answer', 'run', 'authenticate']


class _Readers:
    """One loop.add_reader per transaction's fd, shared by every coroutine
    that waits on it (a second add_reader would replace the first
    coroutine's callback, and that one would never wake)."""

    def __init__(self):
        self._waiting = {}              # (loop, fd) -> set of futures

    def wait(self, loop, fd):
        fut = loop.create_future()
        key = (loop, fd)
        waiters = self._waiting.get(key)
        if waiters is None:
            waiters = self._waiting[key] = set()
            loop.add_reader(fd, self._ready, key)
        waiters.add(fut)
        fut.add_done_callback(lambda f: self._forget(key, f))
        return fut

    def wake(self, loop, fd):
        """Wake every coroutine waiting on fd: one of them has just
        collected the news, and collecting drains the fd, so the others
        would otherwise sleep on an fd that stays quiet."""
        self._ready((loop, fd))

    def _ready(self, key):
        for fut in list(self._waiting.get(key, ())):
            if not fut.done():
                fut.set_result(None)

    def _forget(self, key, fut):
        waiters = self._waiting.get(key)
        if waiters is None:
            return
        waiters.discard(fut)
        if not waiters:
            del self._waiting[key]
            key[0].remove_reader(key[1])


_readers = _Readers()


async def wait(txn):
    """Wait until the running operation has a batch or a result.

    Returns PAMCode.PAM_CONV_AGAIN (read txn.messages) or the final code.
    Several coroutines may wait on one transaction; one of them collects
    the final code (the others then get RuntimeError from poll()).
    """
    loop = asyncio.get_running_loop()
    while True:
        r = txn.poll()
        if r is not None:
            _readers.wake(loop, txn.fileno())
            return r
        await _readers.wait(loop, txn.fileno())


def _collect_later(txn):
    """A cancelled coroutine's operation: cancel it in PAM and collect its
    end in the background, so the transaction is free again (a begin()
    right after must not find the old result in the way)."""
    txn.cancel()
    loop = asyncio.get_running_loop()

    async def collect():
        try:
            while True:
                r = txn.poll()
                if r == truenas_pypam.PAMCode.PAM_CONV_AGAIN:
                    txn.cancel()        # a batch that came meanwhile
                elif r is not None:
                    return
                await _readers.wait(loop, txn.fileno())
        except Exception:               # noqa: BLE001 - ended, or collected
            return                      # elsewhere (poll's RuntimeError)

    task = loop.create_task(collect())
    _background.add(task)
    task.add_done_callback(_background.discard)


_background = set()


async def begin(txn, op, flags=0):
    """Awaitable Transaction.begin."""
    txn.start(op, flags)
    try:
        return await wait(txn)
    except asyncio.CancelledError:
        _collect_later(txn)
        raise


async def answer(txn, replies):
    """Awaitable Transaction.answer."""
    txn.reply(replies)
    try:
        return await wait(txn)
    except asyncio.CancelledError:
        _collect_later(txn)
        raise


async def run(txn, op, responder, flags=0):
    """Run op to its end; responder(messages) (plain or async) answers."""
    rc = await begin(txn, op, flags)
    while rc == truenas_pypam.PAMCode.PAM_CONV_AGAIN:
        replies = responder(txn.messages)
        if inspect.isawaitable(replies):
            replies = await replies
        rc = await answer(txn, replies)
    return rc


async def authenticate(service, user, password, *, confdir=None,
                       step_timeout=None, flags=0):
    """One password login; returns the PAMCode of pam_authenticate."""
    def responder(messages):
        return [password if m.msg_style ==
                truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_OFF
                else (user if m.msg_style ==
                      truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_ON else None)
                for m in messages]

    txn = truenas_pypam.Transaction(service, user, confdir=confdir,
                                    stepwise=True, step_timeout=step_timeout)
    try:
        return await run(txn, 'authenticate', responder, flags)
    finally:
        txn.end()
