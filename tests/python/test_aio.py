"""asyncio over Transaction.fileno(): no thread per login."""
import asyncio

import truenas_pypam
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
