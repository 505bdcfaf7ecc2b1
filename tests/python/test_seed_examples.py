"""The truenas_pypam seed README's four examples, run unchanged.

tests/python/seed_examples/ holds the README's code blocks verbatim (the
first test checks them against the seed when ../shared/seeds is there).
As root they run, each in its own /usr/bin/python3 process as a user's
program would, against Debian's real `login` service with the README's
user and password (`bob`, `password123`) made for the test and removed
after: pam_unix, pam_faildelay and pam_loginuid (which only the main thread
may satisfy) all in the path.
"""
import os
import pathlib
import pwd
import re
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = HERE / 'seed_examples'
REPO = HERE.parents[1]
SEED = REPO.parent / 'shared' / 'seeds' / 'truenas_pypam-README.md'
BUILD = pathlib.Path(os.environ.get('PAMKIT_BUILD_DIR', REPO / 'build'))
ORDER = ['high_level.py', 'simple.py', 'context.py', 'audit_hook.py']


def test_copies_are_the_seeds_examples():
    if not SEED.exists():
        pytest.skip('seed README not beside the repository')
    blocks = re.findall(r'```python\n(.*?)```', SEED.read_text(), re.S)
    assert blocks == [(EXAMPLES / n).read_text() for n in ORDER]


def run(*names, timeout=60):
    """The examples, concatenated, as one program; (rc, stdout, stderr)."""
    code = '\n'.join((EXAMPLES / n).read_text() for n in names)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(BUILD / 'python'), str(REPO / 'python')]))
    p = subprocess.run(['/usr/bin/python3', '-c', code], env=env,
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def bob():
    if os.geteuid() != 0:
        pytest.skip('needs root (a throwaway system user)')
    if not os.path.exists('/etc/pam.d/login'):
        pytest.skip('no /etc/pam.d/login')
    if _has_user('bob'):
        pytest.skip('a user bob exists here; the examples name bob')
    subprocess.run(['useradd', '-M', '-s', '/bin/sh', 'bob'], check=True)
    try:
        subprocess.run(['chpasswd'], input='bob:password123\n', text=True,
                       check=True)
        yield 'bob'
    finally:
        subprocess.run(['userdel', '-f', 'bob'], check=False)


def test_examples_against_debian_login(bob):
    with open('/etc/pam.d/login') as f:
        assert 'pam_loginuid.so' in f.read()
    # high level: auth_init / auth_continue, then login and logout
    rc, out, err = run('high_level.py')
    assert rc == 0, err
    assert out == 'Authentication successful!\n'
    # SimpleAuthenticator
    rc, out, err = run('simple.py')
    assert (rc, out) == (0, 'Authentication successful!\n'), err
    # the low-level context: authenticate, acct_mgmt, open/close session
    # (each raises PAMError on failure, so exit status 0 is success)
    rc, out, err = run('context.py')
    assert (rc, out) == (0, ''), err
    # the audit hook, then a program: one line per PAM operation, with
    # the user and never the password
    rc, out, err = run('audit_hook.py', 'simple.py')
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[-1] == 'Authentication successful!'
    assert 'PAM operation: truenas_pypam.authenticate, user: bob' in lines
    assert 'password123' not in out


def test_examples_with_the_wrong_password(bob):
    subprocess.run(['chpasswd'], input='bob:other-pw-42\n', text=True,
                   check=True)
    rc, out, err = run('simple.py')
    assert (rc, out) == (0, 'Authentication failed!\n'), err
    # the high-level example prints nothing when PAM says no
    rc, out, err = run('high_level.py')
    assert (rc, out) == (0, ''), err
    # the context example raises the seed's PAMError, uncaught
    rc, out, err = run('context.py')
    assert rc == 1
    assert 'PAMError' in err and 'PAM_AUTH_ERR' in err
