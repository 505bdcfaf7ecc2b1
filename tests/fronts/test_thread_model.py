"""pamphlet and draxoft.auth.pam on libpamkit's thread model.

libpam's fail delay is never dropped (`pam_faildelay delay=1000000`: a
wrong password takes at least 0.5 s, libpam randomising the delay by up to
+-50 %), draxoft's delay callback gets the delay libpam computed (and its
default callback sleeps it, as libpam would), and a forked child never
closes its parent's session.
"""
import os
import time

import pytest

pytest.importorskip('truenas_pypam')
import pamphlet  # noqa: E402
from draxoft.auth import pam  # noqa: E402

MIN_DELAY = 0.5
FAILDELAY = 'auth optional pam_faildelay.so delay=1000000\n'


@pytest.fixture
def slow(services):
    name = services.add('slow', auth=['setcred=skip',
                                      'prompt_off=Password:|secret'])
    path = os.path.join(services.confdir, name)
    with open(path) as f:
        body = f.read()
    with open(path, 'w') as f:
        f.write(FAILDELAY + body)
    return name


class Wrong(pamphlet.PamApplication):
    def conversation(self, messages):
        return ['wrong' if m.is_prompt else '' for m in messages]


def test_pamphlet_wrong_password_waits(services, slow):
    app = Wrong(slow, 'alice', confdir=services.confdir)
    t0 = time.monotonic()
    with pytest.raises(pamphlet.AuthenticationError):
        app.authenticate()
    assert time.monotonic() - t0 >= MIN_DELAY
    app.end()


def test_pamphlet_threaded_wrong_password_waits(services, slow):
    app = pamphlet.ThreadedPamApplication(slow, 'alice',
                                          confdir=services.confdir)
    app.authenticate()
    prompts = app.get_data()
    assert [str(m) for m in prompts] == ['Password:']
    t0 = time.monotonic()
    app.set_input(['wrong'])
    err = app.get_data()
    assert isinstance(err, pamphlet.PamError)
    assert time.monotonic() - t0 >= MIN_DELAY
    app.end()


def test_draxoft_default_delay_sleeps(services, slow):
    h = pam.handle(service=slow, user='alice', conv=lambda s, m, d: 'wrong',
                   confdir=services.confdir)
    t0 = time.monotonic()
    assert h.authenticate() is False
    assert time.monotonic() - t0 >= MIN_DELAY


def test_draxoft_delay_callback_gets_libpams_delay(services, slow):
    got = []
    h = pam.handle(service=slow, user='alice', conv=lambda s, m, d: 'wrong',
                   confdir=services.confdir, data='d',
                   delay=lambda rc, usec, data: got.append((rc, usec, data)))
    t0 = time.monotonic()
    assert h.authenticate() is False
    # the callback took the delay over (draxoft's contract): no sleep here
    assert time.monotonic() - t0 < MIN_DELAY
    assert len(got) == 1
    rc, usec, data = got[0]
    assert rc == pam.PAM_AUTH_ERR and data == 'd'
    assert 500000 <= usec <= 1500000


@pytest.fixture
def traced(services, tmp_path):
    log = str(tmp_path / 'calls.log')
    name = services.add('traced', auth=['setcred=skip', 'log=' + log,
                                        'prompt_off=Password:|secret'],
                        session=['log=' + log])
    return name, log


def _calls(log):
    out = []
    with open(log) as f:
        for line in f:
            op, *kv = line.split()
            if op != 'SPAN':                # pam_pktest's timing lines
                out.append((op, dict(x.split('=') for x in kv)))
    return out


def test_fork_child_leaves_the_session_alone(services, traced):
    name, log = traced

    class Right(pamphlet.PamApplication):
        def conversation(self, messages):
            return ['secret' if m.is_prompt else '' for m in messages]

    app = Right(name, 'alice', confdir=services.confdir)
    app.authenticate()
    app.open_session()
    h = pam.handle(service=name, user='alice', conv=lambda s, m, d: 'secret',
                   confdir=services.confdir)
    assert h.authenticate() is True
    h.open_session()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            app.end()
            del h
        except BaseException as e:          # noqa: BLE001
            import traceback
            traceback.print_exc()
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    child = [c for c in _calls(log) if c[1]['pid'] == str(pid)]
    assert child and all(c[0] == 'END' and c[1]['silent'] == '1'
                         for c in child)
    app.close_session()
    h.close_session()
    app.end()
    closes = [c for c in _calls(log) if c[0] == 'CLOSE_SESSION']
    assert len(closes) == 2
    assert {c[1]['pid'] for c in closes} == {str(os.getpid())}
