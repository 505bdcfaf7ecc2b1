"""PamApplication: pamphlet's blocking application on truenas_pypam."""
import truenas_pypam as core

from _pamkit_front import CONSTANTS, CoreError, confdir_for, core_error_code
from _pamkit_front import weak_method
from .environ import PamEnvironment
from .errors import ConversationError, PamError
from .message import PamMessage

SUCCESS = CONSTANTS['PAM_SUCCESS']
CONV_ERR = CONSTANTS['PAM_CONV_ERR']


def _flags(silent=False, **named):
    flags = CONSTANTS['PAM_SILENT'] if silent else 0
    for const, wanted in named.items():
        if wanted:
            flags |= CONSTANTS[const]
    return flags


def _pamitem(name):
    def getter(self):
        try:
            return self._txn().get_item(name)
        except CoreError as exc:
            raise PamError('Failed to get pam item',
                           code=core_error_code(exc)) from exc

    def setter(self, value):
        # the original raises ValueError for anything but a string; bytes
        # go to PAM as they are (a host or tty name need not be UTF-8)
        if not isinstance(value, (str, bytes)):
            raise ValueError('PAM item %s must be str or bytes, not %s'
                             % (name, type(value).__name__))
        try:
            self._txn().set_item(name, value)
        except CoreError as exc:
            raise PamError('Failed to set pam item',
                           code=core_error_code(exc)) from exc
    return property(getter, setter, doc='The PAM_%s item.' % name.upper())


def _answers(messages, replies):
    """Check a conversation's replies and turn them into the core's list."""
    if replies is None:
        raise ValueError('conversation returned None; it must return (or '
                         'yield) one answer per message')
    replies = list(replies)
    if len(replies) != len(messages):
        raise ValueError('conversation gave %d answers for %d messages'
                         % (len(replies), len(messages)))
    out = []
    for msg, reply in zip(messages, replies):
        if reply is None or (not msg.is_prompt and reply == ''):
            out.append(None if not msg.is_prompt else reply)
            continue
        # bytes go to PAM as they are (a latin-1 password must log in)
        if not isinstance(reply, (str, bytes)):
            raise TypeError('conversation answers must be str or bytes, '
                            'not %s' % type(reply).__name__)
        out.append(reply)
    return out


class PamApplication(object):
    """A PAM transaction; subclass it and define conversation(messages)."""

    def __init__(self, service_name, user_name=None, confdir=None):
        # str or bytes, as the original (bytes reach PAM unchanged)
        if not isinstance(service_name, (str, bytes)) or not service_name:
            raise ValueError('service_name must be a non-empty str or bytes')
        if user_name is not None and not isinstance(user_name, (str, bytes)):
            raise TypeError('user_name must be str, bytes or None')
        self.service_name = service_name
        # as the original: '' is no user at all (PAM asks for one)
        self.user_name = user_name or None
        self.last_status = SUCCESS
        self.has_credentials = False
        self.has_session = False
        self._t = None
        self._t = self._make_transaction(confdir_for(confdir))
        self.environ = PamEnvironment(self._t)

    def _make_transaction(self, confdir):
        return core.Transaction(self.service_name, self.user_name,
                                confdir=confdir,
                                conversation=weak_method(self, '_converse'))

    def _txn(self):
        if self._t is None:
            raise RuntimeError('the PAM handle has ended')
        return self._t

    # The bridge from the core's callable(list[Message]) -> list[str|None].
    def _converse(self, core_messages):
        messages = [PamMessage.from_core(m) for m in core_messages]
        return _answers(messages, self.conversation(messages))

    def conversation(self, messages):
        raise RuntimeError('This method must be overridden')

    def _call(self, op, flags, what):
        t = self._txn()
        rc = int(t.call(op, flags))
        self.last_status = rc
        if rc != SUCCESS:
            # the conversation's exception is the cause whatever code the
            # module made of it (pam_unix says PAM_AUTH_ERR, not CONV_ERR)
            cause = getattr(t, 'conversation_error', None)
            err = PamError(what, code=rc)
            if cause is not None:
                raise err from cause
            raise err

    def authenticate(self, silent=False, disallow_null_authtoken=False):
        self._call('authenticate', _flags(
            silent, PAM_DISALLOW_NULL_AUTHTOK=disallow_null_authtoken),
            'Authentication failed')

    def account_management(self, silent=False, disallow_null_authtoken=False):
        self._call('acct_mgmt', _flags(
            silent, PAM_DISALLOW_NULL_AUTHTOK=disallow_null_authtoken),
            'Account management failed')

    acct_mgmt = account_management

    def open_session(self, silent=False):
        self._call('open_session', _flags(silent), 'Opening session failed')
        self.has_session = True

    def close_session(self, silent=False):
        self._call('close_session', _flags(silent), 'Closing session failed')
        self.has_session = False

    def change_authtoken(self, silent=False, change_expired_authtoken=False):
        self._call('chauthtok', _flags(
            silent, PAM_CHANGE_EXPIRED_AUTHTOK=change_expired_authtoken),
            'Failed to change authtoken')

    def initialize_credentials(self, silent=False):
        self._call('setcred', _flags(silent, PAM_ESTABLISH_CRED=True),
                   'Failed to initialize credentials')
        self.has_credentials = True

    def delete_credentials(self, silent=False):
        self._call('setcred', _flags(silent, PAM_DELETE_CRED=True),
                   'Failed to delete credentials')
        self.has_credentials = False

    def reinitialize_credentials(self, silent=False):
        try:
            self._call('setcred', _flags(silent, PAM_REINITIALIZE_CRED=True),
                       'Failed to reinitialize credentials')
        except PamError:
            self.has_credentials = False
            raise

    def refresh_credentials(self, silent=False):
        try:
            self._call('setcred', _flags(silent, PAM_REFRESH_CRED=True),
                       'Failed to refresh credentials')
        except PamError:
            self.has_credentials = False
            raise

    def get_user(self, prompt=None):
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError('prompt must be str or None')
        t = self._txn()
        rc, user = t.get_user(prompt)
        rc = int(rc)
        self.last_status = rc
        if rc != SUCCESS:
            cause = getattr(t, 'conversation_error', None) \
                if rc == CONV_ERR else None
            err = PamError('Failed to get user', code=rc)
            if cause is not None:
                raise err from cause
            raise err
        return user

    def end(self):
        """Delete credentials, close the session, end the handle (idempotent)."""
        if self._t is None:
            return
        try:
            # after fork() the session is the parent's: never close it here
            if not self._t.inherited:
                if self.has_credentials:
                    self.delete_credentials()
                if self.has_session:
                    self.close_session()
        finally:
            t, self._t = self._t, None
            self.environ._t = None
            t.end()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.end()

    authtok_type = _pamitem('authtok_type')
    rhost = _pamitem('rhost')
    ruser = _pamitem('ruser')
    service = _pamitem('service')
    tty = _pamitem('tty')
    user = _pamitem('user')
    user_prompt = _pamitem('user_prompt')
    xdisplay = _pamitem('xdisplay')


__all__ = ['PamApplication', 'ConversationError']
