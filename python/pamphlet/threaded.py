"""ThreadedPamApplication on the stepwise core.

authenticate and chauthtok run on a worker libpamkit lends for that one
operation (Transaction(stepwise=True)); begin()/answer() hand each batch of
messages across. No Python thread and no queue are involved: authenticate() and
change_authtoken() return a PamStep, a thread-like handle whose join() waits
until the operation has its final code.
"""
import threading
import time

import truenas_pypam as core

from _pamkit_front import CONSTANTS, weak_method
from .application import PamApplication, _answers, _flags
from .errors import PamError
from .message import PamMessage

SUCCESS = CONSTANTS['PAM_SUCCESS']
CONV_AGAIN = CONSTANTS['PAM_CONV_AGAIN']
CONV_ERR = CONSTANTS['PAM_CONV_ERR']


class PamStep(threading.Thread):
    """One stepwise PAM operation, as the threading.Thread that pamphlet's
    ThreadedPamApplication.authenticate() returns.  No Python thread runs
    it (libpamkit lends a worker): it is never started, join() waits for
    the operation's end, and every end (success, failure, end(), a
    get_data() timeout) finishes it, so join() always returns."""

    def __init__(self, name):
        threading.Thread.__init__(self, name=name, daemon=True)
        self.exception = None
        self._done = threading.Event()

    def _finish(self, exception):
        self.exception = exception
        self._done.set()

    def start(self):
        raise RuntimeError('a PamStep runs on libpamkit; it is not started')

    def run(self):
        pass

    def join(self, timeout=None):
        self._done.wait(timeout)

    def is_alive(self):
        return not self._done.is_set()

    isAlive = is_alive

    def __repr__(self):
        state = 'finished' if self._done.is_set() else 'waiting'
        return '<PamStep %s %s>' % (self.name, state)


class ThreadedPamApplication(PamApplication):
    """Hands prompts out with get_data() and takes answers with set_input()."""

    def __init__(self, service_name, user_name=None, timeout=60, confdir=None):
        if timeout is not None and (not isinstance(timeout, (int, float))
                                    or timeout <= 0):
            raise ValueError('timeout must be a positive number of seconds')
        self.timeout = timeout
        self._lock = threading.Lock()
        self._has_data = threading.Event()
        self._data = None
        self._messages = None
        self._step = None
        super().__init__(service_name, user_name, confdir=confdir)

    def _make_transaction(self, confdir):
        return core.Transaction(self.service_name, self.user_name,
                                confdir=confdir, stepwise=True,
                                step_timeout=self.timeout,
                                conversation=weak_method(self, '_converse'))

    def _publish(self, data):
        self._data = data
        self._has_data.set()

    def _final(self, rc, what, cause=None):
        rc = int(rc)
        self.last_status = rc
        if rc == SUCCESS:
            return None
        err = PamError(what, code=rc)
        if cause is not None:
            err.__cause__ = cause
        return err

    def _deliver(self, rc, what):
        """Publish a batch or the final outcome of the running step."""
        t = self._txn()
        if int(rc) == CONV_AGAIN:
            self._messages = [PamMessage.from_core(m) for m in t.messages]
            self._publish(list(self._messages))
            return
        self._messages = None
        err = self._final(rc, what)
        step, self._step = self._step, None
        self._publish(err)
        if step is not None:
            step._finish(err)

    def _begin(self, op, flags, what):
        with self._lock:
            if self._step is not None:
                raise RuntimeError('a PAM operation is already in progress')
            self._step = PamStep('pam-' + op)
            self._what = what
            step = self._step
            self._has_data.clear()
            self._deliver(self._txn().begin(op, flags), what)
        return step

    def authenticate(self, silent=False, disallow_null_authtoken=False):
        return self._begin('authenticate', _flags(
            silent, PAM_DISALLOW_NULL_AUTHTOK=disallow_null_authtoken),
            'Authentication failed')

    def change_authtoken(self, silent=False, change_expired_authtoken=False):
        return self._begin('chauthtok', _flags(
            silent, PAM_CHANGE_EXPIRED_AUTHTOK=change_expired_authtoken),
            'Failed to change authtoken')

    def get_data(self):
        """Prompts (list of PamMessage), an exception, or None on success."""
        if not self._has_data.wait(self.timeout):
            err = TimeoutError('no data from the PAM stack within %s s'
                               % self.timeout)
            self._give_up(err)
            return err
        with self._lock:
            self._has_data.clear()
            data, self._data = self._data, None
        return data

    def set_input(self, answers):
        """Answer the batch get_data() returned; an empty list answers ''."""
        with self._lock:
            messages = self._messages
            if messages is None or self._step is None:
                raise RuntimeError('no PAM prompts are waiting for input')
            if not answers:
                answers = [''] * len(messages)
            # checked before anything changes: a rejected answer (a NUL
            # inside, a wrong count) leaves the prompt pending
            replies = _answers(messages, answers)
            for r in replies:
                nul = b'\0' if isinstance(r, bytes) else '\0'
                if r is not None and nul in r:
                    raise ValueError('an answer contains a NUL character')
            self._messages = None
            self._deliver(self._txn().answer(replies), self._what)

    def _give_up(self, err):
        """Nobody waits any more: cancel the operation, collect its end
        (a module stuck outside the conversation is left to end() later),
        and finish the step so that join() returns."""
        with self._lock:
            step, self._step = self._step, None
            self._messages = None
            t = self._t
        if t is not None and step is not None:
            t.cancel()
            deadline = time.monotonic() + 2
            while t.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        if step is not None:
            step._finish(err)

    def conversation(self, messages):
        """Default for the blocking operations (all but authenticate and
        change_authtoken, which go through get_data/set_input): acknowledge
        messages, give no answer to prompts."""
        return ['' if not m.is_prompt else None for m in messages]

    def end(self):
        with self._lock:
            step, self._step = self._step, None
            if step is not None and self._t is not None:
                self._t.cancel()
        if step is not None:
            err = PamError('PAM handle ended during the conversation',
                           code=CONV_ERR)
            self._publish(err)
            step._finish(err)
        super().end()
