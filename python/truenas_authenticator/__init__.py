from .authenticator import (  # noqa: F401
    AuthenticatorResponse,
    AuthenticatorStage,
    AuthenticatorState,
    SimpleAuthenticator,
    UserPamAuthenticator,
)

__all__ = [
    'AuthenticatorResponse',
    'AuthenticatorStage',
    'AuthenticatorState',
    'SimpleAuthenticator',
    'UserPamAuthenticator',
]
