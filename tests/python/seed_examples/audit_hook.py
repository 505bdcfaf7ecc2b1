import sys

def audit_hook(event, args):
    if event.startswith('truenas_pypam.'):
        print(f"PAM operation: {event}, user: {args[0]}")

sys.addaudithook(audit_hook)
