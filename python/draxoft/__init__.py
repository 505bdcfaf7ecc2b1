"""The draxoft namespace (only draxoft.auth.pam is provided by pamkit)."""
