import truenas_pypam

def conversation_callback(ctx, messages, private_data):
    """Handle PAM conversation"""
    responses = []
    for msg in messages:
        if msg.msg_style == truenas_pypam.MSGStyle.PAM_PROMPT_ECHO_OFF:
            responses.append('password123')
        else:
            responses.append(None)
    return responses

# Create PAM context
ctx = truenas_pypam.get_context(
    service_name='login',
    user='bob',
    conversation_function=conversation_callback
)

# Authenticate
ctx.authenticate()

# Check account
ctx.acct_mgmt()

# Open session
ctx.open_session()

# Close session
ctx.close_session()
