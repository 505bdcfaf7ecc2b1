#!/bin/sh
# Install pamkit the two ways a user would, and test what got installed,
# outside the source tree:
#  1. the Debian packages: dpkg-buildpackage -us -uc -b on a copy of the
#     tree, apt install ./*.deb, lintian, debian/tests/smoke, then purge;
#  2. the pip path: a wheel (Python packages and extension only) installed
#     into a venv with --system-site-packages, imported from elsewhere.
# Needs root (apt).  CI runs it from .ci/run before scripts/test.sh.
set -eu
cd "$(dirname "$0")/.."
src=$PWD
tmp=$(mktemp -d /tmp/pamkit-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pkgs="libpamkit0 libpamkit-dev pamkit python3-truenas-pypam libpam-oauth2 pamkit-authd"
purge() {
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkgs >/dev/null 2>&1 || true
}

# The tracked files as they are in the work tree; the .debs land in $tmp.
mkdir "$tmp/pamkit"
git ls-files -z | xargs -0 cp --parents -t "$tmp/pamkit"
(cd "$tmp/pamkit" && dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
	tail -40 "$tmp/build.log"; echo "install-test: dpkg-buildpackage failed"; exit 1; }
ls "$tmp"/*.deb
# Lintian at its default level: errors and warnings fail the run.
lintian --fail-on error,warning "$tmp"/*.changes 2>&1 | grep -v "running with root" || true
lintian --fail-on error,warning "$tmp"/*.changes >/dev/null 2>&1 || {
	echo "install-test: lintian found errors or warnings"; exit 1; }

purge
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	$(for p in $pkgs; do echo "$tmp/${p}_"*"_$(dpkg --print-architecture).deb"; done) \
	>"$tmp/apt.log" 2>&1 || { tail -20 "$tmp/apt.log"; exit 1; }
status=0
PAMKIT_SRC=$src debian/tests/smoke || status=1
purge
for f in /usr/bin/pamkit /usr/sbin/pamkit-authd /etc/pamkit/authd.conf \
	 /usr/include/pamkit/pamkit.h; do
	if [ -e "$f" ]; then echo "install-test: $f left after purge"; status=1; fi
done

# The pip path (Debian 12: PEP 668 keeps pip out of the system python, so
# a venv that still sees Debian's packages).
/usr/bin/python3 -m pip wheel --no-build-isolation --no-deps -q -w "$tmp/dist" . \
	>"$tmp/pip.log" 2>&1 || { tail -20 "$tmp/pip.log"; exit 1; }
wheel=$(ls "$tmp"/dist/*.whl)
if unzip -l "$wheel" | grep -E "bin/|\.h$|libpamkit\.so|pam_oauth2|man/"; then
	echo "install-test: the wheel carries more than the Python part"; status=1
fi
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --no-deps --no-index "$wheel"
(cd "$tmp" && "$tmp/venv/bin/python" -c '
import truenas_pypam, truenas_authenticator, pamphlet, truenas_pypam_aio
from draxoft.auth import pam
assert "/venv/" in truenas_pypam.__file__, truenas_pypam.__file__
print("pip: ok", truenas_pypam.__file__)') || status=1
[ "$status" -eq 0 ] && echo "install-test: packages and wheel OK"
exit $status
