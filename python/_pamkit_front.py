"""Small helpers shared by the pure-Python fronts (pamphlet, draxoft.auth.pam).

Everything here sits on the C core ``truenas_pypam``; nothing binds libpam.
"""
import os
import weakref

import truenas_pypam as core

# Linux-PAM's pam_strerror() texts, used only when the core lacks
# pam_strerror() (docs/python-core.md does not list it; the extension has it).
_LINUX_PAM_TEXT = {
    'PAM_SUCCESS': 'Success',
    'PAM_OPEN_ERR': 'Failed to load module',
    'PAM_SYMBOL_ERR': 'Symbol not found',
    'PAM_SERVICE_ERR': 'Error in service module',
    'PAM_SYSTEM_ERR': 'System error',
    'PAM_BUF_ERR': 'Memory buffer error',
    'PAM_PERM_DENIED': 'Permission denied',
    'PAM_AUTH_ERR': 'Authentication failure',
    'PAM_CRED_INSUFFICIENT':
        'Insufficient credentials to access authentication data',
    'PAM_AUTHINFO_UNAVAIL':
        'Authentication service cannot retrieve authentication info',
    'PAM_USER_UNKNOWN':
        'User not known to the underlying authentication module',
    'PAM_MAXTRIES': 'Have exhausted maximum number of retries for service',
    'PAM_NEW_AUTHTOK_REQD':
        'Authentication token is no longer valid; new one required',
    'PAM_ACCT_EXPIRED': 'User account has expired',
    'PAM_SESSION_ERR': 'Cannot make/remove an entry for the specified session',
    'PAM_CRED_UNAVAIL':
        'Authentication service cannot retrieve user credentials',
    'PAM_CRED_EXPIRED': 'User credentials expired',
    'PAM_CRED_ERR': 'Failure setting user credentials',
    'PAM_NO_MODULE_DATA': 'No module specific data is present',
    'PAM_BAD_ITEM': 'Bad item passed to pam_*_item()',
    'PAM_CONV_ERR': 'Conversation error',
    'PAM_AUTHTOK_ERR': 'Authentication token manipulation error',
    'PAM_AUTHTOK_RECOVERY_ERR': 'Authentication information cannot be recovered',
    'PAM_AUTHTOK_LOCK_BUSY': 'Authentication token lock busy',
    'PAM_AUTHTOK_DISABLE_AGING': 'Authentication token aging disabled',
    'PAM_TRY_AGAIN': 'Failed preliminary check by password service',
    'PAM_IGNORE': 'The return value should be ignored by PAM dispatch',
    'PAM_MODULE_UNKNOWN': 'Module is unknown',
    'PAM_AUTHTOK_EXPIRED': 'Authentication token expired',
    'PAM_CONV_AGAIN': 'Conversation is waiting for event',
    'PAM_INCOMPLETE': 'Application needs to call libpam again',
    'PAM_ABORT': 'Critical error - immediate abort',
}

STYLE_NAMES = ('PAM_PROMPT_ECHO_OFF', 'PAM_PROMPT_ECHO_ON', 'PAM_ERROR_MSG',
               'PAM_TEXT_INFO', 'PAM_RADIO_TYPE', 'PAM_BINARY_PROMPT')


def pam_constants():
    """Every PAM_* int constant the core exports, as a dict."""
    out = {}
    for name in dir(core):
        if name.startswith('PAM_'):
            value = getattr(core, name)
            if isinstance(value, int) and not isinstance(value, bool):
                out[name] = int(value)
    return out


CONSTANTS = pam_constants()
RETURN_CODE_NAMES = tuple(n for n in _LINUX_PAM_TEXT if n in CONSTANTS)
_CODE_TO_NAME = {CONSTANTS[n]: n for n in RETURN_CODE_NAMES}


def code_name(code):
    return _CODE_TO_NAME.get(int(code), 'PAM_%d' % int(code))


def strerror(code):
    """Plain-English text for a PAM return code."""
    own = getattr(core, 'pam_strerror', None)
    if callable(own):
        try:
            return str(own(int(code)))
        except Exception:  # fall back to the table below
            pass
    return _LINUX_PAM_TEXT.get(code_name(code), 'Unknown PAM error %d' % int(code))


def confdir_for(confdir):
    """The confdir keyword, else $PAMKIT_CONFDIR, else None (system dirs)."""
    if confdir is not None:
        return os.fspath(confdir)
    env = os.environ.get('PAMKIT_CONFDIR')
    return env if env else None


def weak_method(obj, name):
    """A callable that calls obj.<name> without keeping obj alive.

    The Transaction holds the callable; a bound method would make a cycle
    (front -> transaction -> bound method -> front) and delay pam_end until
    the cyclic GC runs.
    """
    ref = weakref.ref(obj)

    def call(*args):
        target = ref()
        if target is None:
            raise RuntimeError('PAM front object is gone')
        return getattr(target, name)(*args)
    return call


def check_code(ret):
    """Normalize an optional PAMCode return value of a core setter to int."""
    if ret is None:
        return CONSTANTS['PAM_SUCCESS']
    return int(ret)


CoreError = getattr(core, 'PAMError', RuntimeError)


def core_error_code(exc):
    """The PAM code a core PAMError carries, or None."""
    code = getattr(exc, 'code', None)
    return None if code is None else int(code)
