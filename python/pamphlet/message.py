"""PamMessage: a str with the PAM message style attached."""
from _pamkit_front import CONSTANTS

PAM_PROMPT_ECHO_OFF = CONSTANTS.get('PAM_PROMPT_ECHO_OFF', 1)
PAM_PROMPT_ECHO_ON = CONSTANTS.get('PAM_PROMPT_ECHO_ON', 2)
PAM_ERROR_MSG = CONSTANTS.get('PAM_ERROR_MSG', 3)
PAM_TEXT_INFO = CONSTANTS.get('PAM_TEXT_INFO', 4)

_STYLE_TEXT = {
    PAM_PROMPT_ECHO_ON: 'prompt',
    PAM_PROMPT_ECHO_OFF: 'password prompt',
    PAM_TEXT_INFO: 'message',
    PAM_ERROR_MSG: 'error',
}


class PamMessage(str):
    """One message from the PAM stack; the text is the string itself."""

    def __new__(cls, message, style):
        self = super().__new__(cls, message)
        self.style = int(style)
        self.message = str(message)
        return self

    @property
    def style_text(self):
        return _STYLE_TEXT.get(self.style, 'style %d' % self.style)

    @property
    def is_prompt(self):
        return self.style in (PAM_PROMPT_ECHO_ON, PAM_PROMPT_ECHO_OFF)

    @property
    def wants_password(self):
        return self.style == PAM_PROMPT_ECHO_OFF

    @property
    def is_error(self):
        return self.style == PAM_ERROR_MSG

    @classmethod
    def from_core(cls, msg):
        """From a truenas_pypam.Message (msg_style, msg)."""
        return cls(msg.msg, int(msg.msg_style))

    def __repr__(self):
        return '<PamMessage %r (%s)>' % (self.message, self.style_text)
