"""Fixtures for the pamkit CLI end-to-end tests.

The binary is found through PAMKIT_BUILD_DIR (absolute meson build dir,
default <repo>/build).  Every test writes its own PAM service files into a
private confdir under tmp_path; nothing touches /etc/pam.d.
"""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PAMKIT_BUILD_DIR", REPO / "build")).resolve()
PAMKIT = BUILD / "tools" / "pamkit"
PKTEST = BUILD / "tests" / "modules" / "pam_pktest.so"
MATRIX = pathlib.Path("/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so")
PASSWORD = "s3cret-pw"


@pytest.fixture(scope="session")
def pamkit():
    if not PAMKIT.exists():
        pytest.fail(f"pamkit binary not found at {PAMKIT}; build first or set PAMKIT_BUILD_DIR")
    return str(PAMKIT)


@pytest.fixture
def pktest():
    if not PKTEST.exists():
        pytest.skip(f"test module {PKTEST} not built")
    return str(PKTEST)


@pytest.fixture
def matrix():
    if not MATRIX.exists():
        pytest.fail(f"{MATRIX} missing: install libpam-wrapper")
    return str(MATRIX)


@pytest.fixture
def confdir(tmp_path):
    """Return a function service(name, text) writing a service file."""
    d = tmp_path / "pam.d"
    d.mkdir()

    def service(name, text):
        (d / name).write_text(text)
        return str(d)

    service.path = str(d)
    return service


@pytest.fixture
def passdb(tmp_path):
    """A pam_matrix user database with alice for the service 'svc'."""
    p = tmp_path / "passdb"
    p.write_text(f"alice:{PASSWORD}:svc\n")
    return str(p)


@pytest.fixture
def matrix_svc(confdir, matrix, passdb):
    """Service 'svc': pam_matrix in every group; returns the confdir."""
    lines = [f"{g} required {matrix} passdb={passdb}\n"
             for g in ("auth", "account", "password", "session")]
    return confdir("svc", "".join(lines))


def run(args, input=None, timeout=30, cwd=None):
    """Run pamkit with stdin from a pipe; returns CompletedProcess."""
    return subprocess.run(args, input=input, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
