"""pamphlet: write PAM applications with ease, on pamkit's truenas_pypam core.

A pure-Python front: every PAM call goes through truenas_pypam.Transaction.
"""
from _pamkit_front import CONSTANTS as _CONSTANTS

from .errors import *          # noqa: F401,F403  (PamError and subclasses)
from .errors import PamError, EXCEPTION_NAMES, exception_for
from .message import PamMessage
from .environ import PamEnvironment
from .application import PamApplication
from .threaded import ThreadedPamApplication, PamStep

PamAplication = PamApplication   # the README example's spelling

globals().update(_CONSTANTS)

__all__ = (['PamApplication', 'ThreadedPamApplication', 'PamMessage',
            'PamEnvironment', 'PamStep', 'PamError', 'exception_for']
           + list(EXCEPTION_NAMES))
