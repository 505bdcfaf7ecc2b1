"""asyncio over Transaction.fileno(): no thread per login."""
import asyncio
import select

import truenas_pypam
import pytest
import truenas_pypam as tp
import truenas_pypam_aio as aio
from conftest import thread_count

C = truenas_pypam.PAMCode


def test_aio_attribute():
    assert truenas_pypam.aio is aio


def test_200_concurrent_logins(matrix):
    async def main():
        users = [('alice', 'secret'), ('bob', 'hunter2'), ('bob', 'bad')]
        tasks = [aio.authenticate('mx', *users[i % 3], confdir=str(matrix))
                 for i in range(200)]
        before = thread_count()
        res = await asyncio.gather(*tasks)
        return res, before

    res, before = asyncio.run(main())
    for i, rc in enumerate(res):
        assert rc == (C.PAM_AUTH_ERR if i % 3 == 2 else C.PAM_SUCCESS)


def test_run_with_async_responder(matrix):
    async def main():
        t = truenas_pypam.Transaction('mx', 'alice', confdir=str(matrix),
                                      stepwise=True)

        async def responder(msgs):
            await asyncio.sleep(0)
            return ['secret' for _ in msgs]
        try:
            return await aio.run(t, 'authenticate', responder)
        finally:
            t.end()

    assert asyncio.run(main()) == C.PAM_SUCCESS


def test_two_coroutines_wait_on_one_transaction(matrix):
    """Both waiters wake when the batch comes (a second add_reader used to
    replace the first waiter's callback: it never woke)."""
    async def main():
        t = tp.Transaction('mx', 'bob', confdir=str(matrix), stepwise=True)
        t.start('authenticate')
        a = asyncio.create_task(aio.wait(t))
        b = asyncio.create_task(aio.wait(t))
        done, pending = await asyncio.wait({a, b}, timeout=5)
        assert not pending
        assert {x.result() for x in done} == {C.PAM_CONV_AGAIN}
        assert await aio.answer(t, ['hunter2']) == C.PAM_SUCCESS
        t.end()
    asyncio.run(main())


def test_a_waiter_wakes_when_another_collects_the_batch(matrix):
    """Collecting a batch drains the fd: the coroutine that collects it
    wakes the others, or they sleep on a quiet fd (a flaky CI failure of
    the test above, made deterministic here)."""
    async def main():
        t = tp.Transaction('mx', 'bob', confdir=str(matrix), stepwise=True)
        t.start('authenticate')
        a = asyncio.create_task(aio.wait(t))
        await asyncio.sleep(0)              # a polls (nothing yet), sleeps
        r, _, _ = select.select([t.fileno()], [], [], 5)
        assert r, 'no batch within 5 s'
        # This coroutine collects the batch before the loop sees the fd.
        assert await aio.wait(t) == C.PAM_CONV_AGAIN
        assert await asyncio.wait_for(a, 5) == C.PAM_CONV_AGAIN
        assert await aio.answer(t, ['hunter2']) == C.PAM_SUCCESS
        t.end()
    asyncio.run(main())


def test_cancelled_coroutine_leaves_the_transaction_usable(confdir, pktest):
    """After CancelledError the operation is cancelled and its end
    collected in the background: the next begin() works at once.  The
    module takes 0.3 s after the answer, so answer() is surely still
    waiting when it is cancelled (with an instant module the operation
    could end before the coroutine first awaits: a flaky CI run)."""
    confdir.service('slowpw', [f'auth required {pktest} '
                               'prompt_off=Password:|hunter2 delay_ms=300'])

    async def main():
        t = tp.Transaction('slowpw', 'bob', confdir=str(confdir),
                           stepwise=True)
        assert await aio.begin(t, 'authenticate') == C.PAM_CONV_AGAIN
        task = asyncio.create_task(aio.answer(t, ['hunter2']))
        await asyncio.sleep(0)              # it runs up to its await
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(300):                # the background collection
            await asyncio.sleep(0.01)
            try:
                rc = await aio.begin(t, 'authenticate')
                break
            except RuntimeError:
                continue
        assert rc == C.PAM_CONV_AGAIN
        assert await aio.answer(t, ['hunter2']) == C.PAM_SUCCESS
        t.end()
    asyncio.run(main())
