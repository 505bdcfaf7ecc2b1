"""asyncio forms of truenas_pypam.Transaction operations.

No thread per login: a stepwise Transaction's worker is libpamkit's, and the
event loop waits on Transaction.fileno() with loop.add_reader.  Also reachable
as ``truenas_pypam.aio``.
"""

import asyncio
import inspect

import truenas_pypam

__all__ = ['wait', 'begin', 'answer', 'run', 'authenticate']


async def wait(txn):
    """Wait until the running operation has a batch or a result.

    Returns PAMCode.PAM_CONV_AGAIN (read txn.messages) or the final code.
    """
    loop = asyncio.get_running_loop()
    while True:
        r = txn.poll()
        if r is not None:
            return r
        fd = txn.fileno()
        fut = loop.create_future()

        def ready(fut=fut):
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)


async def begin(txn, op, flags=0):
    """Awaitable Transaction.begin."""
    txn.start(op, flags)
    try:
        return await wait(txn)
    except asyncio.CancelledError:
        txn.cancel()
        raise


async def answer(txn, replies):
    """Awaitable Transaction.answer."""
    txn.reply(replies)
    try:
        return await wait(txn)
    except asyncio.CancelledError:
        txn.cancel()
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
