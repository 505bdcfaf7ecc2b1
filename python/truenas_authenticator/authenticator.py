"""truenas_authenticator: the TrueNAS authenticator API on the stepwise
truenas_pypam.Transaction core.

No Python thread per login, no queues, no polling loop: auth_init() and
auth_continue() are Transaction.begin()/answer(), which wait with the GIL
released for libpamkit's worker.  authentication_timeout is what it is in
truenas/truenas_pypam: how long auth_init()/auth_continue() wait for PAM
to come back with the next messages or the result, not how long the user
may take to answer them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional, Sequence

import truenas_pypam

PAMCode = truenas_pypam.PAMCode


class AuthenticatorStage(enum.StrEnum):
    START = 'START'
    AUTH = 'AUTH'
    OPEN_SESSION = 'OPEN_SESSION'
    CLOSE_SESSION = 'CLOSE_SESSION'
    LOGIN = 'LOGIN'
    LOGOUT = 'LOGOUT'


class AccountFlag(enum.StrEnum):
    """Account flags of the seed project's API (names and values)."""
    SYS_ADMIN = 'SYS_ADMIN'
    DIRECTORY_SERVICE = 'DIRECTORY_SERVICE'
    LOCAL = 'LOCAL'
    ACTIVE_DIRECTORY = 'ACTIVE_DIRECTORY'
    IPA = 'IPA'
    LDAP = 'LDAP'
    TWOFACTOR = '2FA'
    API_KEY = 'API_KEY'
    OTPW = 'OTPW'
    PASSWORD_CHANGE_REQUIRED = 'PASSWORD_CHANGE_REQUIRED'


@dataclass(slots=True)
class AuthenticatorState:
    service: str = 'login'
    stage: AuthenticatorStage = AuthenticatorStage.START
    otpw_possible: bool = True
    twofactor_possible: bool = True
    login_at: datetime | None = None
    passwd: dict[str, Any] | None = None
    messages: list[Any] | None = None


@dataclass(slots=True)
class AuthenticatorResponse:
    stage: AuthenticatorStage
    code: truenas_pypam.PAMCode
    # reason for non-success OR conversation messages when PAM_CONV_AGAIN
    reason: Any
    user_info: dict[str, Any] | None = None


def _reason(code: int, location: str) -> str:
    code = PAMCode(code)
    return (f'[{code.name}]: {location}() failed: '
            f'{truenas_pypam.pam_strerror(code)}')


class UserPamAuthenticator:
    """One login: holds a stepwise PAM transaction and its stage."""

    def __init__(
        self,
        *,
        username: str,
        service: str = 'login',
        authentication_timeout: int = 10,
        rhost: Optional[str] = None,
        ruser: Optional[str] = None,
        fail_delay: Optional[int] = None,
        pam_env: Optional[dict[str, str]] = None,
        confdir: Optional[str] = None,
    ):
        if not isinstance(username, str) or not username:
            raise TypeError('username must be a non-empty str')
        if not isinstance(service, str) or not service:
            raise TypeError('service must be a non-empty str')
        if authentication_timeout is not None:
            if (not isinstance(authentication_timeout, (int, float))
                    or isinstance(authentication_timeout, bool)):
                raise TypeError('authentication_timeout must be a number of '
                                'seconds, not '
                                f'{type(authentication_timeout).__name__}')
            if not 0 < authentication_timeout <= 86400:
                raise ValueError('authentication_timeout must be > 0 and '
                                 '<= 86400 seconds')
        self.username = username
        self.authentication_timeout = authentication_timeout
        self.rhost = rhost
        self.ruser = ruser
        self.fail_delay = fail_delay
        self.pam_env = pam_env or {}
        self.confdir = confdir
        self.state = AuthenticatorState(service=service)
        self.dbid = 0
        self.ctx: truenas_pypam.Transaction | None = None

    # ---- helpers ---------------------------------------------------------
    def check_stage(self, expected: AuthenticatorStage) -> None:
        if self.state.stage is not expected:
            raise RuntimeError(
                f'{self.state.stage}: unexpected authenticator run state. '
                f'Expected: {expected}'
            )

    @staticmethod
    def _no_user(messages):
        """Conversation of the blocking calls after authentication (account,
        session): nobody is there to answer, so info/error messages are
        taken (they stay in ctx.transcript) and prompts get no answer (a
        NULL response: the module decides, as in the seed project)."""
        return [None] * len(messages)

    def _new_txn(self, stepwise: bool, conversation=None):
        if conversation is None:
            conversation = self._no_user
        txn = truenas_pypam.Transaction(
            self.state.service, self.username, confdir=self.confdir,
            rhost=self.rhost, ruser=self.ruser, fail_delay=self.fail_delay,
            conversation=conversation, stepwise=stepwise)
        try:
            for key, value in self.pam_env.items():
                txn.setenv(key, value)
        except BaseException:
            txn.end()
            raise
        return txn

    def _auth_result(self, rc) -> AuthenticatorResponse:
        if rc == PAMCode.PAM_CONV_AGAIN:
            msgs = tuple(self.ctx.messages)
            self.state.messages = list(msgs)
            return AuthenticatorResponse(AuthenticatorStage.AUTH,
                                         PAMCode.PAM_CONV_AGAIN, msgs)
        if rc == PAMCode.PAM_SUCCESS:
            self.state.stage = AuthenticatorStage.LOGIN
            user_info = {'pw_name': self.username, 'account_attributes': []}
            self.state.passwd = user_info
            return AuthenticatorResponse(AuthenticatorStage.AUTH,
                                         PAMCode.PAM_SUCCESS, None, user_info)
        self.end()
        return AuthenticatorResponse(AuthenticatorStage.AUTH, PAMCode(rc),
                                     _reason(rc, 'pam_authenticate'))

    # ---- authentication --------------------------------------------------
    def auth_init(self) -> AuthenticatorResponse:
        """Start pam_authenticate; PAM_CONV_AGAIN with the messages in
        `reason` while PAM waits for answers (use auth_continue())."""
        if self.ctx is not None:
            raise RuntimeError('Authentication already in progress')
        self.check_stage(AuthenticatorStage.START)
        try:
            self.ctx = self._new_txn(stepwise=True)
        except truenas_pypam.PAMError as e:
            return AuthenticatorResponse(AuthenticatorStage.AUTH,
                                         PAMCode(e.code), str(e))
        self.state.stage = AuthenticatorStage.AUTH
        try:
            rc = self.ctx.begin('authenticate',
                                timeout=self.authentication_timeout)
        except TimeoutError:
            return self._timed_out()
        return self._auth_result(rc)

    def _timed_out(self) -> AuthenticatorResponse:
        """PAM did not come back in time (the operation was cancelled)."""
        self.end()
        return AuthenticatorResponse(
            AuthenticatorStage.AUTH, PAMCode.PAM_SYSTEM_ERR,
            f'Authentication timeout after '
            f'{self.authentication_timeout} seconds')

    def auth_continue(self, responses: Sequence[Optional[str]]
                      ) -> AuthenticatorResponse:
        """Answer the pending messages (None for non-prompts)."""
        if self.state.stage != AuthenticatorStage.AUTH:
            raise RuntimeError(
                f'Not in AUTH stage (current: {self.state.stage})')
        if self.ctx is None:
            raise RuntimeError('No authentication in progress')
        if isinstance(responses, (str, bytes)):
            raise TypeError('responses must be a list of str or None')
        try:
            rc = self.ctx.answer(list(responses),
                                 timeout=self.authentication_timeout)
        except TimeoutError:
            return self._timed_out()
        return self._auth_result(rc)

    # ---- account and session ---------------------------------------------
    def _need_ctx(self) -> truenas_pypam.Transaction:
        if self.ctx is None:
            raise RuntimeError('No PAM context available - authentication '
                               'may not have completed')
        return self.ctx

    def _op(self, op: str, stage: AuthenticatorStage, location: str
            ) -> AuthenticatorResponse:
        rc = self._need_ctx().call(op)
        reason = None if rc == PAMCode.PAM_SUCCESS else _reason(rc, location)
        return AuthenticatorResponse(stage, rc, reason)

    def account_management(self) -> AuthenticatorResponse:
        self.check_stage(AuthenticatorStage.LOGIN)
        # account management blends into authentication: same stage
        return self._op('acct_mgmt', AuthenticatorStage.AUTH,
                        'pam_acct_mgmt')

    def open_session(self) -> AuthenticatorResponse:
        self.check_stage(AuthenticatorStage.LOGIN)
        return self._op('open_session', AuthenticatorStage.OPEN_SESSION,
                        'pam_open_session')

    def close_session(self) -> AuthenticatorResponse:
        self.check_stage(AuthenticatorStage.LOGOUT)
        return self._op('close_session', AuthenticatorStage.CLOSE_SESSION,
                        'pam_close_session')

    def login(self, session_id: Optional[str] = None
              ) -> AuthenticatorResponse:
        """Open the PAM session (session_id is recorded as XDG_SESSION_ID
        in the PAM environment when given)."""
        self.check_stage(AuthenticatorStage.LOGIN)
        if session_id is not None:
            if not isinstance(session_id, str):
                raise TypeError('session_id must be str')
            self._need_ctx().setenv('XDG_SESSION_ID', session_id)
        resp = self.open_session()
        if resp.code != PAMCode.PAM_SUCCESS:
            self.end()
            return resp
        self.state.login_at = datetime.now(UTC)
        self.state.stage = AuthenticatorStage.LOGOUT
        return AuthenticatorResponse(AuthenticatorStage.LOGIN,
                                     PAMCode.PAM_SUCCESS, None)

    def logout(self) -> AuthenticatorResponse:
        self.check_stage(AuthenticatorStage.LOGOUT)
        resp = self.close_session()
        self.end()
        return AuthenticatorResponse(AuthenticatorStage.LOGOUT, resp.code,
                                     resp.reason)

    def end(self) -> None:
        """Release the PAM handle in any state (cancels a conversation)."""
        ctx, self.ctx = self.ctx, None
        if ctx is not None:
            ctx.end()
        self.state = AuthenticatorState(service=self.state.service)

    @property
    def login_at(self) -> datetime | None:
        return self.state.login_at

    def __del__(self) -> None:
        try:
            if getattr(self, 'state', None) is None:
                return
            if self.state.stage is AuthenticatorStage.LOGOUT:
                self.logout()
            else:
                self.end()
        except Exception:
            pass


class SimpleAuthenticator(UserPamAuthenticator):
    """Username/password authentication in one blocking call."""

    def __init__(self, **kwargs: Any) -> None:
        password = kwargs.pop('password', '')
        if not isinstance(password, str):
            raise TypeError('password must be a str, not '
                            f'{type(password).__name__}')
        self.password = password
        super().__init__(**kwargs)

    def _conv(self, messages):
        out = []
        for m in messages:
            if m.msg_style == truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_OFF:
                out.append(self.password or '')
            elif m.msg_style == truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_ON:
                out.append(self.username)
            else:
                out.append(None)
        return out

    def auth_init(self) -> AuthenticatorResponse:
        self.check_stage(AuthenticatorStage.START)
        try:
            txn = self._new_txn(stepwise=False, conversation=self._conv)
        except truenas_pypam.PAMError as e:
            self.password = None
            return AuthenticatorResponse(AuthenticatorStage.AUTH,
                                         PAMCode(e.code), str(e))
        try:
            rc = txn.call('authenticate')
        finally:
            self.password = None
        if rc != PAMCode.PAM_SUCCESS:
            txn.end()
            return AuthenticatorResponse(AuthenticatorStage.AUTH, rc,
                                         _reason(rc, 'pam_authenticate'))
        self.ctx = txn
        self.state.stage = AuthenticatorStage.LOGIN
        user_info = {'pw_name': self.username, 'account_attributes': []}
        return AuthenticatorResponse(AuthenticatorStage.AUTH,
                                     PAMCode.PAM_SUCCESS, None, user_info)

    def auth_continue(self, responses):
        raise NotImplementedError

    def authenticate_simple(self) -> bool:
        return self.auth_init().code == PAMCode.PAM_SUCCESS
