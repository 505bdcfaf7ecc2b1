#!/bin/sh
# private-ns.sh SOCK OLDDIR PAMDIR COMMAND...
#
# Run by the benchmarks under `unshare --mount` (as root): runs COMMAND in
# the private mount namespace with a syslog socket SOCK (or "-" for none)
# bound over /dev/log in a private /dev, and a PAM directory PAMDIR (or "-")
# bound over /etc/pam.d.  OLDDIR is an empty directory used while /dev is
# rebuilt.  The host's /dev and /etc are untouched.
set -e
sock=$1; old=$2; pamd=$3; shift 3
mount --make-rprivate /
if [ "$pamd" != - ]; then mount --bind "$pamd" /etc/pam.d; fi
if [ "$sock" != - ]; then
    mount --bind /dev "$old"
    mount -t tmpfs -o mode=0755,size=64k pamkit-bench-dev /dev
    for n in null zero full random urandom; do
        : > "/dev/$n"; mount --bind "$old/$n" "/dev/$n"
    done
    ln -s /proc/self/fd /dev/fd
    : > /dev/log
    mount --bind "$sock" /dev/log
    umount -l "$old"
fi
exec "$@"
