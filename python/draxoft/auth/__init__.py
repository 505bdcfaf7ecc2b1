"""draxoft.auth: pamkit provides draxoft.auth.pam."""
