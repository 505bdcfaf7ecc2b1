"""pamphlet's exceptions: one class per PAM return code, all PamError."""
from _pamkit_front import CONSTANTS, strerror

_BY_CODE = {}


class PamError(Exception):
    """Base class. ``PamError(msg, code=c)`` builds the subclass for code c."""

    code = None

    def __new__(cls, msg='', handle=None, code=None):
        if cls is PamError and code is not None and int(code) in _BY_CODE:
            cls = _BY_CODE[int(code)]
        return super().__new__(cls, msg, handle, code)

    def __init__(self, msg='', handle=None, code=None):
        if code is not None:
            self.code = int(code)
        if self.code is not None and msg:
            msg = '%s: %s' % (msg, strerror(self.code))
        elif self.code is not None:
            msg = strerror(self.code)
        super().__init__(msg)


def _define(name, const):
    if const not in CONSTANTS:
        return None
    cls = type(name, (PamError,), {'code': CONSTANTS[const],
                                   '__module__': 'pamphlet'})
    _BY_CODE.setdefault(CONSTANTS[const], cls)
    return cls


# The seed's list, in its order.
Abort = _define('Abort', 'PAM_ABORT')
AccountExpired = _define('AccountExpired', 'PAM_ACCT_EXPIRED')
AuthenticationError = _define('AuthenticationError', 'PAM_AUTH_ERR')
AuthinfoUnavailable = _define('AuthinfoUnavailable', 'PAM_AUTHINFO_UNAVAIL')
AuthTokenAgingDisabled = _define('AuthTokenAgingDisabled',
                                 'PAM_AUTHTOK_DISABLE_AGING')
AuthTokenManipulationError = _define('AuthTokenManipulationError',
                                     'PAM_AUTHTOK_ERR')
AuthTokenExpired = _define('AuthTokenExpired', 'PAM_AUTHTOK_EXPIRED')
AuthTokenLockBusy = _define('AuthTokenLockBusy', 'PAM_AUTHTOK_LOCK_BUSY')
AuthTokenRecoveryError = _define('AuthTokenRecoveryError',
                                 'PAM_AUTHTOK_RECOVERY_ERR')
BadItem = _define('BadItem', 'PAM_BAD_ITEM')
BufferError = _define('BufferError', 'PAM_BUF_ERR')
ConversationError = _define('ConversationError', 'PAM_CONV_ERR')
CredentialError = _define('CredentialError', 'PAM_CRED_ERR')
CredentialExpired = _define('CredentialExpired', 'PAM_CRED_EXPIRED')
InsufficientCredentials = _define('InsufficientCredentials',
                                  'PAM_CRED_INSUFFICIENT')
CredentialsUnavailable = _define('CredentialsUnavailable', 'PAM_CRED_UNAVAIL')
CredenrialsUnavailable = CredentialsUnavailable   # the seed's spelling
MaxTriesExceeded = _define('MaxTriesExceeded', 'PAM_MAXTRIES')
NewAuthTokenRequired = _define('NewAuthTokenRequired', 'PAM_NEW_AUTHTOK_REQD')
PermissionDenied = _define('PermissionDenied', 'PAM_PERM_DENIED')
ServiceError = _define('ServiceError', 'PAM_SERVICE_ERR')
SessionError = _define('SessionError', 'PAM_SESSION_ERR')
SymbolError = _define('SymbolError', 'PAM_SYMBOL_ERR')
SystemError = _define('SystemError', 'PAM_SYSTEM_ERR')
UserUnknown = _define('UserUnknown', 'PAM_USER_UNKNOWN')

# The codes the seed leaves out, so that every PAM code has its class.
OpenError = _define('OpenError', 'PAM_OPEN_ERR')
NoModuleData = _define('NoModuleData', 'PAM_NO_MODULE_DATA')
TryAgain = _define('TryAgain', 'PAM_TRY_AGAIN')
Ignore = _define('Ignore', 'PAM_IGNORE')
ModuleUnknown = _define('ModuleUnknown', 'PAM_MODULE_UNKNOWN')
ConversationAgain = _define('ConversationAgain', 'PAM_CONV_AGAIN')
Incomplete = _define('Incomplete', 'PAM_INCOMPLETE')

EXCEPTION_NAMES = tuple(
    name for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, PamError)
    and value is not PamError)


__all__ = ['PamError', 'exception_for', 'EXCEPTION_NAMES', 'CredenrialsUnavailable'] + list(EXCEPTION_NAMES)


def exception_for(code):
    """The PamError subclass for a PAM code (PamError for an unknown one)."""
    return _BY_CODE.get(int(code), PamError)
