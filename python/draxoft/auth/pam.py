"""draxoft.auth.pam: a Python-style interface to PAM, on pamkit's core.

A pure-Python front: every PAM call goes through truenas_pypam.Transaction.
Differences from the original C module, on purpose:
  * ``environ`` holds no pointer into the handle: it keeps the transaction
    alive while in use and, once the handle is gone, serves the last values
    (read-only) instead of crashing;
  * ``delay`` is really wired to PAM_FAIL_DELAY;
  * an extra ``confdir`` parameter (or $PAMKIT_CONFDIR) names a private
    PAM service directory.
"""
import errno as _errno
import getpass as _getpass
import os as _os
import pwd as _pwd
import sys as _sys
import tempfile as _tempfile
import time as _time
from collections.abc import MutableMapping as _MutableMapping

import truenas_pypam as _core

from _pamkit_front import CONSTANTS as _C, RETURN_CODE_NAMES as _RC_NAMES
from _pamkit_front import check_code as _check, confdir_for as _confdir_for
from _pamkit_front import strerror as _strerror, weak_method as _weak_method
from _pamkit_front import CoreError as _CoreError
from _pamkit_front import core_error_code as _core_error_code

# The PAM_* return codes and message styles (what the running libpam has).
for _name in _RC_NAMES + ('PAM_PROMPT_ECHO_OFF', 'PAM_PROMPT_ECHO_ON',
                          'PAM_ERROR_MSG', 'PAM_TEXT_INFO'):
    if _name in _C:
        globals()[_name] = _C[_name]
del _name

DEFAULT_SERVICE = 'login'
# Environment variables removed after authenticate() unless elevated.
SENSITIVE_ENVIRON = ('NTLMPWD', 'mount_authenticator')

_SUCCESS = _C['PAM_SUCCESS']
_AUTH_ERR = _C['PAM_AUTH_ERR']
_CONV_ERR = _C['PAM_CONV_ERR']
_PROMPTS = (_C['PAM_PROMPT_ECHO_OFF'], _C['PAM_PROMPT_ECHO_ON'])


class PamError(EnvironmentError):
    """Errors of the PAM library: ``errno`` is the PAM code, ``strerror``
    its text."""

    def __init__(self, code, text=None):
        code = int(code)
        super().__init__(code, text if text is not None else _strerror(code))


def _raise(code, cause=None):
    err = PamError(code)
    if cause is not None:
        raise err from cause
    raise err


def _conv_callback(style, message, data):
    """The default conversation: a terminal."""
    if style == _C['PAM_PROMPT_ECHO_OFF']:
        return _getpass.getpass(message)
    if style == _C['PAM_PROMPT_ECHO_ON']:
        _sys.stdout.write(message)
        _sys.stdout.flush()
        line = _sys.stdin.readline()
        return line.rstrip('\n')
    if style == _C['PAM_ERROR_MSG']:
        print(message, file=_sys.stderr)
    else:
        print(message)
    return None


class _UnraisableArgs(object):
    """What sys.unraisablehook takes (its own type cannot be built)."""

    def __init__(self, exc, obj):
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = 'Exception ignored in a PAM fail delay callback'
        self.object = obj


def _delay_callback(rc, usec, data):
    """What libpam does without a delay callback: sleep after a failure."""
    if rc != _SUCCESS and usec > 0:
        _time.sleep(usec / 1e6)


def _probe():
    """Ask the running libpam (through the core) what it supports."""
    impl, exts = '?', set()
    try:
        with _tempfile.TemporaryDirectory(prefix='pamkit-probe-') as d:
            with open(_os.path.join(d, 'pamkit-probe'), 'w') as f:
                f.write('# empty: the probe never runs a PAM operation\n')
            t = _core.Transaction('pamkit-probe', 'nobody', confdir=d)
            try:
                if _check(t.fail_delay(0)) == _SUCCESS:
                    exts.add('fail_delay')
                _check(t.setenv('PAMKIT_PROBE', '1'))
                _check(t.unsetenv('PAMKIT_PROBE'))
                if t.getenv('PAMKIT_PROBE') is None:
                    exts.add('unsetenv')
                # PAM_XDISPLAY and PAM_AUTHTOK_TYPE are Linux-PAM items.
                t.set_item('xdisplay', ':0')
                t.set_item('authtok_type', 'UNIX')
                if t.get_item('authtok_type') == 'UNIX':
                    impl = 'Linux-PAM'
            finally:
                t.end()
    except Exception:
        pass
    return impl, frozenset(exts)


implementation, extensions = _probe()


class _EnvState(object):
    """What the environ mapping and its handle share (no back reference)."""

    def __init__(self, transaction):
        self.t = transaction
        self.final = None

    def freeze(self):
        if self.t is not None:
            try:
                self.final = dict(self.t.getenvlist())
            except Exception:
                self.final = {}
            self.t = None


class _Environ(_MutableMapping):
    """The PAM environment; values come back as str.

    Safe to keep: after its handle is gone it serves the final values,
    read-only.
    """

    def __init__(self, state):
        self._s = state

    def _live(self):
        if self._s.t is None:
            raise PamError(_C['PAM_SYSTEM_ERR'],
                           'the PAM handle is gone; its environment is '
                           'read-only')
        return self._s.t

    def __getitem__(self, key):
        key = str(key)
        if self._s.t is None:
            return self._s.final[key]
        value = self._s.t.getenv(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        key, value = str(key), str(value)
        if not key or '=' in key:
            raise ValueError('bad PAM environment name %r' % key)
        if value == '<NULL>':
            # the original's way to delete a variable (no KeyError)
            t = self._live()
            if t.getenv(key) is not None:
                rc = _check(_core_call(t.unsetenv, key))
                if rc != _SUCCESS:
                    _raise(rc)
            return
        rc = _check(_core_call(self._live().setenv, key, value))
        if rc != _SUCCESS:
            _raise(rc)

    def __delitem__(self, key):
        key = str(key)
        if 'unsetenv' not in extensions:
            raise TypeError("can't delete key '%s'" % key)
        t = self._live()
        if t.getenv(key) is None:
            raise KeyError(key)
        rc = _check(_core_call(t.unsetenv, key))
        if rc != _SUCCESS:
            _raise(rc)

    def _dict(self):
        if self._s.t is None:
            return dict(self._s.final)
        return dict(self._s.t.getenvlist())

    def __iter__(self):
        return iter(list(self._dict()))

    def __len__(self):
        return len(self._dict())

    def __contains__(self, key):
        return str(key) in self._dict()

    def __repr__(self):
        return repr(self._dict())


def _core_call(fn, *args):
    """Run a core call, turning the core's PAMError into ours."""
    try:
        return fn(*args)
    except _CoreError as exc:
        code = _core_error_code(exc)
        if code is None:
            raise
        raise PamError(code) from exc


def _item(name, doc):
    def getter(self):
        return _core_call(self._txn().get_item, name)

    def setter(self, value):
        if value is None:
            raise TypeError("can't delete attribute")
        # as the C original (a "s" argument): only str, never str(b'h')
        if not isinstance(value, str):
            raise TypeError('%s must be str, not %s'
                            % (name, type(value).__name__))
        _core_call(self._txn().set_item, name, value)

    def deleter(self):
        raise TypeError("can't delete attribute")
    return property(getter, setter, deleter, doc=doc)


class handle(object):
    """A PAM handle.  Parameters: service, user, conv, delay, data
    (and pamkit's confdir)."""

    def __init__(self, service=DEFAULT_SERVICE, user=None, conv=None,
                 delay=None, data=None, confdir=None):
        self._t = None
        self._state = None
        self._open_session = False
        self._elevated = False
        if not isinstance(service, str) or not service:
            raise TypeError('service must be a non-empty str')
        if user is None:
            try:
                user = _pwd.getpwuid(_os.getuid()).pw_name
            except KeyError:
                raise EnvironmentError('unable to determine current user')
        if not isinstance(user, str):
            raise TypeError('user must be str')
        self._conv = conv if conv is not None else _conv_callback
        self._delay = delay
        self._data = data
        self._t = _core.Transaction(
            service, user, confdir=_confdir_for(confdir),
            conversation=_weak_method(self, '_converse'),
            fail_delay_callback=_weak_method(self, '_on_delay'))
        self._state = _EnvState(self._t)
        self._environ = _Environ(self._state)

    def _txn(self):
        if self._t is None:
            raise PamError(_C['PAM_SYSTEM_ERR'], 'the PAM handle has ended')
        return self._t

    # -- callbacks ---------------------------------------------------------
    def _converse(self, messages):
        replies = []
        for m in messages:
            style = int(m.msg_style)
            answer = self._conv(style, m.msg, self._data)
            if style not in _PROMPTS:
                replies.append(None)
                continue
            if answer is None or isinstance(answer, str):
                replies.append(answer)
            elif isinstance(answer, bytes):
                replies.append(answer.decode('utf-8'))
            else:
                raise TypeError('conv must return str or None, not %s'
                                % type(answer).__name__)
        return replies

    def _on_delay(self, rc, usec):
        cb = self._delay if self._delay is not None else _delay_callback
        try:
            cb(int(rc), int(usec), self._data)
        except Exception as exc:        # noqa: BLE001 - reported, not lost
            # as a C callback's error: reported, and the operation's own
            # result (and the environment purge) stand
            _sys.unraisablehook(_UnraisableArgs(exc, cb))

    conv = property(lambda self: self._conv,
                    lambda self, v: setattr(self, '_conv', v),
                    lambda self: setattr(self, '_conv', _conv_callback),
                    'Conversation callback(style, message, data).')
    delay = property(lambda self: self._delay,
                     lambda self, v: setattr(self, '_delay', v),
                     lambda self: setattr(self, '_delay', None),
                     'Fail delay callback(rc, usec, data).')
    data = property(lambda self: self._data,
                    lambda self, v: setattr(self, '_data', v),
                    lambda self: setattr(self, '_data', None),
                    'Opaque data passed to the callbacks.')

    # -- items -------------------------------------------------------------
    service = _item('service', 'The name of the requesting service.')
    user = _item('user', 'The name of the user being authenticated.')
    tty = _item('tty', 'The name of the current terminal.')
    rhost = _item('rhost', "The name of the applicant's host.")
    ruser = _item('ruser', 'The name of the applicant.')
    user_prompt = _item('user_prompt', 'The prompt for a user name.')
    xdisplay = _item('xdisplay', 'The X display.')
    authtok_type = _item('authtok_type', 'The authentication token type.')

    @property
    def environ(self):
        return self._environ

    environment = environ

    @property
    def elevated(self):
        return self._elevated

    @elevated.setter
    def elevated(self, value):
        if _os.geteuid() != 0:
            raise PermissionError(_errno.EACCES, _os.strerror(_errno.EACCES))
        self._elevated = bool(value)

    # -- operations ----------------------------------------------------------
    def _call(self, op, flags):
        t = self._txn()
        rc = int(t.call(op, flags))
        cause = t.conversation_error if rc == _CONV_ERR else None
        return rc, cause

    @staticmethod
    def _flags(silent, const=None, on=False):
        flags = _C['PAM_SILENT'] if silent else 0
        if on:
            flags |= _C[const]
        return flags

    def _purge_sensitive(self):
        if self._elevated and _os.geteuid() == 0:
            return
        for name in SENSITIVE_ENVIRON:
            if self._t.getenv(name) is not None:
                self._t.unsetenv(name)

    def authenticate(self, silent=False, disallow_null_token=False):
        """True on success, False on PAM_AUTH_ERR; PamError otherwise."""
        try:
            rc, cause = self._call('authenticate', self._flags(
                silent, 'PAM_DISALLOW_NULL_AUTHTOK', disallow_null_token))
        finally:
            self._purge_sensitive()     # whatever happened, no secret stays
        if rc == _SUCCESS:
            return True
        if rc == _AUTH_ERR:
            return False
        _raise(rc, cause)

    def _checked(self, op, flags):
        rc, cause = self._call(op, flags)
        if rc != _SUCCESS:
            _raise(rc, cause)

    def acct_mgmt(self, silent=False, disallow_null_token=False):
        self._checked('acct_mgmt', self._flags(
            silent, 'PAM_DISALLOW_NULL_AUTHTOK', disallow_null_token))

    def change_token(self, silent=False, expired_only=False):
        self._checked('chauthtok', self._flags(
            silent, 'PAM_CHANGE_EXPIRED_AUTHTOK', expired_only))

    def establish_credentials(self, silent=False):
        self._checked('setcred', self._flags(silent, 'PAM_ESTABLISH_CRED', True))

    def delete_credentials(self, silent=False):
        self._checked('setcred', self._flags(silent, 'PAM_DELETE_CRED', True))

    def reinitialize_credentials(self, silent=False):
        self._checked('setcred',
                      self._flags(silent, 'PAM_REINITIALIZE_CRED', True))

    def refresh_credentials(self, silent=False):
        self._checked('setcred', self._flags(silent, 'PAM_REFRESH_CRED', True))

    def open_session(self, silent=False):
        self._checked('open_session', self._flags(silent))
        self._open_session = True

    def close_session(self, silent=False):
        self._checked('close_session', self._flags(silent))
        self._open_session = False

    if 'fail_delay' in extensions:
        def fail_delay(self, usec):
            """Ask for a minimum delay of usec microseconds after a failure."""
            # as the C original's unsigned int argument: an int is needed
            if not isinstance(usec, int):
                raise TypeError('an integer is required (got type %s)'
                                % type(usec).__name__)
            if usec < 0 or usec > 0xffffffff:
                raise ValueError('usec must be in 0..2**32-1')
            rc = _check(_core_call(self._txn().fail_delay, usec))
            if rc != _SUCCESS:
                _raise(rc)

    def _end(self):
        """Close an open session and end the handle (as the GC would)."""
        t = self._t
        if t is None:
            return
        try:
            # after fork() the session is the parent's: never close it here
            if self._open_session and not t.inherited:
                self._open_session = False
                t.call('close_session', _C['PAM_SILENT'])
        finally:
            self._state.freeze()
            self._t = None
            t.end()

    def __del__(self):
        try:
            self._end()
        except Exception:
            pass
