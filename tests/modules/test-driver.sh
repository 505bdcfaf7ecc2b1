#!/bin/sh
# test-driver.sh DRIVER MODULE: checks pktest-driver against pam_pktest.so.
set -u
driver=$1
module=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/pktest-drv-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0
check() { # NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then pass=$((pass + 1)); else
		fail=$((fail + 1))
		printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
	fi
}
cat > "$dir/svc" <<EOS
auth required $module setcred=skip [info=hi there] [prompt_off=Password: |pw]
account required $module rc=PAM_NEW_AUTHTOK_REQD
password required $module [prompt_off=New: |n1] set_authtok authtok=n1
session required $module
EOS
out=$(echo pw | "$driver" "$dir" svc alice authenticate setcred_refresh env)
check auth "TEXT_INFO:hi there
PROMPT_ECHO_OFF:Password: 
authenticate: PAM_SUCCESS
setcred_refresh: PAM_SUCCESS
ENV:PKTEST_CALLS_AUTH=1
ENV:PKTEST_AUTH=1
ENV:PKTEST_CALLS_SETCRED=1
ENV:PKTEST_SETCRED=refresh
env: PAM_SUCCESS" "$out"
out=$(echo nope | "$driver" "$dir" svc alice authenticate; echo "exit=$?")
check wrong "TEXT_INFO:hi there
PROMPT_ECHO_OFF:Password: 
authenticate: PAM_AUTH_ERR
exit=1" "$out"
out=$("$driver" "$dir" svc alice authenticate </dev/null | tail -n 1)
check eof "authenticate: PAM_CONV_ERR" "$out"
out=$("$driver" "$dir" svc alice acct_mgmt open_session close_session </dev/null)
check acct_session "acct_mgmt: PAM_NEW_AUTHTOK_REQD
open_session: PAM_SUCCESS
close_session: PAM_SUCCESS" "$out"
out=$(echo n1 | "$driver" "$dir" svc alice chauthtok)
check chauthtok "PROMPT_ECHO_OFF:New: 
chauthtok: PAM_SUCCESS" "$out"
"$driver" "$dir" svc alice frobnicate </dev/null >/dev/null 2>&1
check bad_op 2 "$?"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
