from truenas_authenticator import SimpleAuthenticator

auth = SimpleAuthenticator(
    username='bob',
    password='password123',
    service='login'
)

if auth.authenticate_simple():
    print("Authentication successful!")
else:
    print("Authentication failed!")
