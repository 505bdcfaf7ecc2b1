"""pytest setup for the Python bindings.

Finds the Meson build through PAMKIT_BUILD_DIR (default <repo>/build), puts
the built extension and the pure-Python sources on sys.path, and writes
private PAM service directories (pam_start_confdir) into tmp_path.
"""
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get('PAMKIT_BUILD_DIR', REPO / 'build'))
sys.path.insert(0, str(REPO / 'python'))
sys.path.insert(0, str(BUILD / 'python'))

PKTEST = BUILD / 'tests' / 'modules' / 'pam_pktest.so'
MATRIX = pathlib.Path(
    '/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so')

# One process-wide audit hook (hooks cannot be removed): tests read EVENTS.
EVENTS = []


def _hook(event, args):
    if event.startswith('truenas_pypam.'):
        EVENTS.append((event, args))


sys.addaudithook(_hook)


@pytest.fixture
def audit_events():
    EVENTS.clear()
    return EVENTS


class Confdir:
    def __init__(self, path):
        self.path = path
        path.mkdir(exist_ok=True)

    def service(self, name, lines):
        """Write service `name` from (type, control, module, args) lines
        or raw strings."""
        out = []
        for ln in lines:
            out.append(ln if isinstance(ln, str) else ' '.join(ln))
        (self.path / name).write_text('\n'.join(out) + '\n')
        return name

    def __str__(self):
        return str(self.path)


@pytest.fixture
def confdir(tmp_path):
    return Confdir(tmp_path / 'pam.d')


@pytest.fixture
def matrix(tmp_path, confdir):
    """Service 'mx' with pam_matrix: users alice/secret and bob/hunter2."""
    if not MATRIX.exists():
        pytest.skip('pam_matrix (libpam-wrapper) not installed')
    db = tmp_path / 'passdb'
    db.write_text('alice:secret:mx\nbob:hunter2:mx\n')
    args = f'passdb={db}'
    confdir.service('mx', [
        f'auth required {MATRIX} {args}',
        f'account required {MATRIX} {args}',
        f'password required {MATRIX} {args}',
        f'session required {MATRIX} {args}',
    ])
    confdir.service('permit', [
        'auth required pam_permit.so',
        'account required pam_permit.so',
        'password required pam_permit.so',
        'session required pam_permit.so',
    ])
    confdir.service('deny', [
        'auth required pam_deny.so',
        'account required pam_deny.so',
        'password required pam_deny.so',
        'session required pam_deny.so',
    ])
    return confdir


@pytest.fixture
def pktest(confdir):
    if not PKTEST.exists():
        pytest.skip(f'{PKTEST} not built')
    return str(PKTEST)


def fd_count():
    return len(os.listdir('/proc/self/fd'))


def thread_count():
    for line in open('/proc/self/status'):
        if line.startswith('Threads:'):
            return int(line.split()[1])
    return 0


def prompt_answerer(ctx, messages, password):
    """Seed-style conversation: conversation_private_data is the password
    for every PAM_PROMPT_ECHO_OFF."""
    import truenas_pypam as tp
    return [password if m.msg_style == tp.MSGStyle.PAM_PROMPT_ECHO_OFF
            else None for m in messages]


def full_login(ctx):
    """authenticate, acct_mgmt, open and close the session: each returns
    None (a failure raises PAMError)."""
    for step in (ctx.authenticate, ctx.acct_mgmt, ctx.open_session,
                 ctx.close_session):
        assert step() is None
