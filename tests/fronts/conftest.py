"""Fixtures for the pamphlet / draxoft.auth.pam front tests.

Build products come from $PAMKIT_BUILD_DIR (default <repo>/build): the C
extension in $PAMKIT_BUILD_DIR/python and the scriptable test module
$PAMKIT_BUILD_DIR/tests/modules/pam_pktest.so.  Every test uses a private
service directory in tmp_path (pam_start_confdir), never /etc/pam.d.
"""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get('PAMKIT_BUILD_DIR',
                                       os.path.join(REPO, 'build')))

for p in (os.path.join(REPO, 'python'), os.path.join(BUILD, 'python')):
    if p not in sys.path:
        sys.path.insert(0, p)

PKTEST = os.path.join(BUILD, 'tests', 'modules', 'pam_pktest.so')


def _arg(a):
    """One module argument; bracket it when it holds a space."""
    return '[%s]' % a if (' ' in a or '\t' in a) else a


class Services(object):
    """Writes service files into a private confdir."""

    def __init__(self, confdir, module):
        self.confdir = str(confdir)
        self.module = module

    def add(self, name, auth=(), account=(), password=(), session=()):
        """Each phase gets one 'required pam_pktest.so ARGS' line (a list of
        args) or several (a list of lists)."""
        lines = []
        for kind, spec in (('auth', auth), ('account', account),
                           ('password', password), ('session', session)):
            specs = spec if spec and isinstance(spec[0], (list, tuple)) \
                else [spec]
            for args in specs:
                lines.append(' '.join([kind, 'required', self.module]
                                      + [_arg(a) for a in args]))
        with open(os.path.join(self.confdir, name), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return name


@pytest.fixture
def pktest():
    if not os.path.exists(PKTEST):
        pytest.skip('test PAM module not built: %s' % PKTEST)
    return PKTEST


@pytest.fixture
def services(tmp_path, pktest):
    d = tmp_path / 'pam.d'
    d.mkdir()
    return Services(d, pktest)
