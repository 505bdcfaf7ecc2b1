"""The PAM environment as a MutableMapping."""
from collections.abc import MutableMapping

from _pamkit_front import CONSTANTS, CoreError, check_code, core_error_code
from .errors import PamError


class PamEnvironment(MutableMapping):
    """Dict-like view of pam_getenv/pam_putenv on a live transaction."""

    def __init__(self, transaction):
        self._t = transaction

    def _txn(self):
        if self._t is None:
            raise RuntimeError('the PAM handle has ended')
        return self._t

    def __getitem__(self, key):
        if not isinstance(key, str):
            raise TypeError('PAM environment names are str, not %s'
                            % type(key).__name__)
        value = self._txn().getenv(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        if not isinstance(key, str) or not isinstance(value, (str, bytes)):
            # ValueError, as the original; a value may be bytes (PAM's
            # environment is bytes; read back it is str, surrogateescape)
            raise ValueError('PAM environment names are str, values str '
                             'or bytes')
        if not key or '=' in key:
            raise ValueError('bad PAM environment name %r' % key)
        try:
            rc = check_code(self._txn().setenv(key, value))
        except CoreError as exc:
            raise PamError('Failed to set pam environment',
                           code=core_error_code(exc)) from exc
        if rc != CONSTANTS['PAM_SUCCESS']:
            raise PamError('Failed to set pam environment', code=rc)

    def __delitem__(self, key):
        if key not in self:
            raise KeyError(key)
        try:
            rc = check_code(self._txn().unsetenv(key))
        except CoreError as exc:
            raise PamError('Failed to unset pam environment',
                           code=core_error_code(exc)) from exc
        if rc == CONSTANTS['PAM_BAD_ITEM']:
            raise KeyError(key)
        if rc != CONSTANTS['PAM_SUCCESS']:
            raise PamError('Failed to unset pam environment', code=rc)

    def __contains__(self, key):
        return isinstance(key, str) and self._txn().getenv(key) is not None

    def __iter__(self):
        return iter(list(self._txn().getenvlist()))

    def __len__(self):
        return len(self._txn().getenvlist())

    def __repr__(self):
        return repr(dict(self._txn().getenvlist()))
