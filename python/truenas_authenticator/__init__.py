from .authenticator import (  # noqa: F401
    AccountFlag,
    AuthenticatorResponse,
    AuthenticatorStage,
    AuthenticatorState,
    SimpleAuthenticator,
    UserPamAuthenticator,
)

__all__ = [
    'AccountFlag',
    'AuthenticatorResponse',
    'AuthenticatorStage',
    'AuthenticatorState',
    'SimpleAuthenticator',
    'UserPamAuthenticator',
]

__version__ = '0.1.0'
