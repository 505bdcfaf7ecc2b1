from truenas_authenticator import UserPamAuthenticator
import truenas_pypam

# Create authenticator
auth = UserPamAuthenticator(username='bob', service='login')

# Initialize authentication
resp = auth.auth_init()

# Handle conversation (e.g., password prompt)
if resp.code == truenas_pypam.PAMCode.PAM_CONV_AGAIN:
    # Provide responses to PAM prompts
    responses = []
    for msg in resp.reason:
        if msg.msg_style == truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_OFF:
            responses.append('password123')  # Password prompt
        else:
            responses.append(None)

    # Continue authentication with responses
    resp = auth.auth_continue(responses)

# Check if authentication succeeded
if resp.code == truenas_pypam.PAMCode.PAM_SUCCESS:
    print("Authentication successful!")

    # Open session
    auth.login('session123')

    # ... do work ...

    # Close session
    auth.logout()
