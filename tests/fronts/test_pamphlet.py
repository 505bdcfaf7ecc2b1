"""pamphlet on the real libpam: the README's examples and the error paths."""
import getpass
import os
import threading
import time

import pytest

pytest.importorskip('truenas_pypam')
import pamphlet  # noqa: E402

six = pytest.importorskip('six')

PASSWORD = ['info=Welcome', 'prompt_off=Password:|secret']
# pam_setcred runs the auth lines again: do not prompt there.
PASSWORD_NOSETCRED = ['setcred=skip'] + PASSWORD


def own_env(env):
    """The environment without pam_pktest's PKTEST_* bookkeeping."""
    return {k: v for k, v in dict(env).items() if not k.startswith('PKTEST_')}


# -- the README's first example, unchanged except for confdir --------------
class MyApp(pamphlet.PamAplication):
    def conversation(self, messages):
        for message in messages:
            if not message.is_prompt:
                print(message)
                yield ""
            elif message.wants_password:
                yield getpass.getpass(message.rstrip() + ' ')
            else:
                yield six.moves.input(message.rstrip() + ' ')


@pytest.fixture
def typed(monkeypatch):
    """What the user 'types' at getpass / input."""
    answers = {'password': 'secret', 'input': 'alice', 'prompts': []}

    def fake_getpass(prompt=''):
        answers['prompts'].append(prompt)
        return answers['password']

    def fake_input(prompt=''):
        answers['prompts'].append(prompt)
        return answers['input']
    monkeypatch.setattr(getpass, 'getpass', fake_getpass)
    monkeypatch.setattr(six.moves.builtins, 'input', fake_input)
    return answers


def test_readme_simplest_example(services, typed, capsys):
    services.add('pamphlet-example', auth=PASSWORD)
    app = MyApp('pamphlet-example', confdir=services.confdir)
    app.authenticate()
    assert typed['prompts'] == ['Password: ']
    assert 'Welcome' in capsys.readouterr().out
    app.end()


def test_readme_example_wrong_password(services, typed):
    services.add('pamphlet-example', auth=PASSWORD)
    typed['password'] = 'wrong'
    app = MyApp('pamphlet-example', confdir=services.confdir)
    with pytest.raises(pamphlet.AuthenticationError) as ei:
        app.authenticate()
    assert ei.value.code == pamphlet.PAM_AUTH_ERR
    assert isinstance(ei.value, pamphlet.PamError)
    app.end()


def test_confdir_from_environment(services, typed, monkeypatch):
    services.add('pamphlet-example', auth=PASSWORD)
    monkeypatch.setenv('PAMKIT_CONFDIR', services.confdir)
    app = MyApp('pamphlet-example')
    app.authenticate()
    app.end()


def test_readme_phases(services, typed):
    services.add('pamphlet-example', auth=PASSWORD_NOSETCRED,
                 account=['rc=PAM_SUCCESS'], session=['set_env=PHASE=session'])
    app = MyApp('pamphlet-example', 'alice', confdir=services.confdir)
    app.authenticate()
    app.initialize_credentials()
    assert app.has_credentials
    app.account_management()
    app.acct_mgmt()
    app.open_session()
    assert app.has_session
    assert app.environ['PHASE'] == 'session'
    assert app.environ['PKTEST_SETCRED'] == 'establish'
    assert app.environ['PKTEST_CALLS_ACCT'] == '2'
    app.end()
    assert not app.has_session and not app.has_credentials
    app.end()                        # idempotent


def test_readme_change_password(services, typed):
    services.add('pamphlet-example', auth=PASSWORD,
                 password=['prompt_off=New password: |secret'])
    app = MyApp('pamphlet-example', 'alice', confdir=services.confdir)
    app.authenticate()
    app.change_authtoken()
    assert typed['prompts'][-1] == 'New password: '
    typed['password'] = 'nope'
    with pytest.raises(pamphlet.PamError):
        app.change_authtoken(change_expired_authtoken=True)
    app.end()


def test_readme_items_example(services, typed):
    services.add('pamphlet', auth=PASSWORD_NOSETCRED,
                 account=['rc=PAM_SUCCESS'],
                 session=['rc=PAM_SUCCESS'],
                 password=['prompt_off=New password: |secret'])
    app = MyApp('pamphlet', confdir=services.confdir)
    app.tty = '/dev/pts/7'           # os.ttyname() of a test has no tty
    app.xdisplay = ':3'
    app.authenticate()
    app.initialize_credentials()
    app.acct_mgmt()
    app.open_session()
    app.change_authtoken()
    app.close_session()
    assert (app.tty, app.xdisplay, app.service) == ('/dev/pts/7', ':3',
                                                     'pamphlet')
    app.end()


@pytest.mark.parametrize('item,value', [
    ('authtok_type', 'UNIX'), ('rhost', 'client.example'), ('ruser', 'bob'),
    ('tty', 'ssh'), ('user', 'carol'), ('user_prompt', 'login: '),
    ('xdisplay', ':0')])
def test_items_round_trip(services, item, value):
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    app = MyApp('svc', confdir=services.confdir)
    setattr(app, item, value)
    assert getattr(app, item) == value
    with pytest.raises(ValueError):     # the original's error, not TypeError
        setattr(app, item, 42)
    app.end()


def test_user_name_and_get_user(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    app = MyApp('svc', 'dave', confdir=services.confdir)
    assert app.user == 'dave'
    assert app.get_user() == 'dave'
    assert app.get_user('Who? ') == 'dave'
    app.end()


def test_get_user_prompts_through_conversation(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'])

    class Asks(pamphlet.PamApplication):
        seen = []

        def conversation(self, messages):
            self.seen.extend(messages)
            return ['erin' if m.is_prompt else '' for m in messages]
    app = Asks('svc', confdir=services.confdir)
    assert app.get_user('Who are you? ') == 'erin'
    assert Asks.seen[0] == 'Who are you? '
    assert Asks.seen[0].is_prompt and not Asks.seen[0].wants_password
    app.end()


def test_message_attributes(services):
    services.add('svc', auth=['info=an info', 'error=an error', 'flush',
                              'prompt_on=Name:|alice',
                              'prompt_off=Password:|secret'])
    seen = []

    class Rec(pamphlet.PamApplication):
        def conversation(self, messages):
            seen.extend(messages)
            return [('alice' if not m.wants_password else 'secret')
                    if m.is_prompt else '' for m in messages]
    app = Rec('svc', confdir=services.confdir)
    app.authenticate()
    by_text = {str(m): m for m in seen}
    info, err = by_text['an info'], by_text['an error']
    name, pw = by_text['Name:'], by_text['Password:']
    assert isinstance(info, str) and info.style == pamphlet.PAM_TEXT_INFO
    assert not info.is_prompt and not info.is_error
    assert err.is_error and not err.is_prompt
    assert name.is_prompt and not name.wants_password
    assert pw.is_prompt and pw.wants_password
    assert pw.style == pamphlet.PAM_PROMPT_ECHO_OFF
    assert 'password prompt' in repr(pw)
    app.end()


def test_conversation_returning_list(services):
    services.add('svc', auth=PASSWORD)

    class Lst(pamphlet.PamApplication):
        def conversation(self, messages):
            return ['secret' if m.wants_password else '' for m in messages]
    app = Lst('svc', confdir=services.confdir)
    app.authenticate(silent=True, disallow_null_authtoken=True)
    app.end()


def test_generator_conversation_that_raises(services):
    services.add('svc', auth=PASSWORD)

    class Boom(pamphlet.PamApplication):
        def conversation(self, messages):
            yield ''
            raise LookupError('no answer today')
    app = Boom('svc', confdir=services.confdir)
    with pytest.raises(pamphlet.ConversationError) as ei:
        app.authenticate()
    assert ei.value.code == pamphlet.PAM_CONV_ERR
    assert isinstance(ei.value.__cause__, LookupError)
    app.end()


@pytest.mark.parametrize('answers', [[], ['secret', 'extra', 'more'],
                                     None])
def test_wrong_number_of_answers(services, answers):
    services.add('svc', auth=['prompt_off=Password:|secret'])

    class Wrong(pamphlet.PamApplication):
        def conversation(self, messages):
            return answers
    app = Wrong('svc', confdir=services.confdir)
    with pytest.raises(pamphlet.ConversationError) as ei:
        app.authenticate()
    assert isinstance(ei.value.__cause__, ValueError)
    app.end()


def test_non_string_answer(services):
    services.add('svc', auth=['prompt_off=Password:|secret'])

    class Num(pamphlet.PamApplication):
        def conversation(self, messages):
            return [1234]
    app = Num('svc', confdir=services.confdir)
    with pytest.raises(pamphlet.ConversationError) as ei:
        app.authenticate()
    assert isinstance(ei.value.__cause__, TypeError)
    app.end()


SEED_EXCEPTIONS = [
    ('Abort', 'PAM_ABORT'), ('AccountExpired', 'PAM_ACCT_EXPIRED'),
    ('AuthenticationError', 'PAM_AUTH_ERR'),
    ('AuthinfoUnavailable', 'PAM_AUTHINFO_UNAVAIL'),
    ('AuthTokenAgingDisabled', 'PAM_AUTHTOK_DISABLE_AGING'),
    ('AuthTokenManipulationError', 'PAM_AUTHTOK_ERR'),
    ('AuthTokenExpired', 'PAM_AUTHTOK_EXPIRED'),
    ('AuthTokenLockBusy', 'PAM_AUTHTOK_LOCK_BUSY'),
    ('AuthTokenRecoveryError', 'PAM_AUTHTOK_RECOVERY_ERR'),
    ('BadItem', 'PAM_BAD_ITEM'), ('BufferError', 'PAM_BUF_ERR'),
    ('ConversationError', 'PAM_CONV_ERR'), ('CredentialError', 'PAM_CRED_ERR'),
    ('CredentialExpired', 'PAM_CRED_EXPIRED'),
    ('InsufficientCredentials', 'PAM_CRED_INSUFFICIENT'),
    ('CredenrialsUnavailable', 'PAM_CRED_UNAVAIL'),
    ('CredentialsUnavailable', 'PAM_CRED_UNAVAIL'),
    ('MaxTriesExceeded', 'PAM_MAXTRIES'),
    ('NewAuthTokenRequired', 'PAM_NEW_AUTHTOK_REQD'),
    ('PermissionDenied', 'PAM_PERM_DENIED'),
    ('ServiceError', 'PAM_SERVICE_ERR'), ('SessionError', 'PAM_SESSION_ERR'),
    ('SymbolError', 'PAM_SYMBOL_ERR'), ('SystemError', 'PAM_SYSTEM_ERR'),
    ('UserUnknown', 'PAM_USER_UNKNOWN'),
]


@pytest.mark.parametrize('name,const', SEED_EXCEPTIONS)
def test_every_exception_from_its_pam_code(services, name, const):
    cls = getattr(pamphlet, name)
    assert issubclass(cls, pamphlet.PamError)
    assert cls.code == getattr(pamphlet, const)
    services.add('svc', auth=['rc=' + const], account=['rc=' + const])
    app = MyApp('svc', 'frank', confdir=services.confdir)
    with pytest.raises(cls) as ei:
        app.account_management()
    assert type(ei.value).code == getattr(pamphlet, const)
    assert ei.value.code == getattr(pamphlet, const)
    app.end()


def test_exception_registry_covers_every_code():
    assert pamphlet.CredenrialsUnavailable is pamphlet.CredentialsUnavailable
    seen = set()
    for name in pamphlet.EXCEPTION_NAMES:
        cls = getattr(pamphlet, name)
        seen.add(cls.code)
        err = pamphlet.PamError('boom', code=cls.code)
        assert isinstance(err, cls) and err.code == cls.code
        assert str(err).startswith('boom: ')
    codes = {getattr(pamphlet, n) for n in dir(pamphlet)
             if n.startswith('PAM_') and n.endswith(('_ERR', '_UNAVAIL'))}
    assert codes <= seen
    assert type(pamphlet.PamError('x', code=12345)) is pamphlet.PamError


def test_pam_error_positional_without_handle():
    # the original's signature is PamError(msg, handle, code); with no
    # handle the text still names the code (pam_strerror needs none here)
    err = pamphlet.PamError('Authentication failed', None,
                            pamphlet.PAM_AUTH_ERR)
    assert type(err) is pamphlet.AuthenticationError
    assert err.code == pamphlet.PAM_AUTH_ERR
    assert str(err) == 'Authentication failed: Authentication failure'
    assert str(pamphlet.PamError('plain')) == 'plain'


def test_environ_mapping(services):
    services.add('svc', auth=['set_env=FROM_MODULE=yes'])
    app = MyApp('svc', confdir=services.confdir)
    app.authenticate()
    env = app.environ
    assert env['FROM_MODULE'] == 'yes'
    env['MINE'] = 'value'
    assert env['MINE'] == 'value' and 'MINE' in env
    assert own_env(env) == {'FROM_MODULE': 'yes', 'MINE': 'value'}
    assert len(env) == len(own_env(env)) + len(
        [k for k in env if k.startswith('PKTEST_')])
    assert env['PKTEST_AUTH'] == '1'
    del env['MINE']
    assert 'MINE' not in env
    with pytest.raises(KeyError):
        del env['MINE']
    with pytest.raises(KeyError):
        env['NOPE']
    with pytest.raises(ValueError):     # the original's error
        env['X'] = 1
    with pytest.raises(ValueError):
        env['A=B'] = 'c'
    app.end()
    with pytest.raises(RuntimeError):
        env['FROM_MODULE']


def test_ended_application_refuses_use(services):
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    app = MyApp('svc', confdir=services.confdir)
    app.end()
    with pytest.raises(RuntimeError):
        app.authenticate()
    with pytest.raises(RuntimeError):
        app.user


def test_bad_constructor_arguments():
    with pytest.raises(ValueError):
        MyApp('')
    with pytest.raises(TypeError):
        MyApp('svc', user_name=7)


# -- ThreadedPamApplication: the README's paramiko flow -----------------------
def _interactive(app, answers_for):
    """The README's check_auth_interactive(_response) without paramiko."""
    thread = app.authenticate()
    rounds = 0
    while True:
        data = app.get_data()
        if isinstance(data, Exception):
            thread.join()
            return data, rounds
        if not data:
            thread.join()
            return None, rounds
        rounds += 1
        app.set_input([answers_for(p) for p in data])


def test_threaded_readme_flow(services):
    services.add('sshd', auth=['info=Hi', 'prompt_off=Password:|secret',
                               'flush', 'prompt_off=Token: |123456'])
    app = pamphlet.ThreadedPamApplication('sshd', 'gina',
                                          confdir=services.confdir)
    answers = {'Password:': 'secret', 'Token: ': '123456'}
    result, rounds = _interactive(
        app, lambda p: answers.get(p, '') if p.is_prompt else '')
    assert result is None and rounds >= 2
    app.end()


def test_threaded_wrong_answer_gives_exception(services):
    services.add('sshd', auth=['prompt_off=Password:|secret'])
    app = pamphlet.ThreadedPamApplication('sshd', 'gina',
                                          confdir=services.confdir)
    result, _ = _interactive(app, lambda p: 'wrong')
    assert isinstance(result, pamphlet.AuthenticationError)
    app.end()


def test_threaded_step_is_thread_like(services):
    services.add('sshd', auth=['prompt_off=Password:|secret'])
    app = pamphlet.ThreadedPamApplication('sshd', 'gina',
                                          confdir=services.confdir)
    step = app.authenticate()
    assert step.is_alive()
    prompts = app.get_data()
    assert [str(p) for p in prompts] == ['Password:']
    assert prompts[0].wants_password
    with pytest.raises(RuntimeError):
        app.authenticate()           # one operation at a time
    with pytest.raises(ValueError):
        app.set_input(['a', 'b'])    # wrong number: refused, still pending
    app.set_input(['secret'])
    step.join(5)
    assert not step.is_alive() and step.exception is None
    assert app.get_data() is None
    with pytest.raises(RuntimeError):
        app.set_input(['late'])
    app.end()


def test_threaded_change_authtoken(services):
    services.add('passwd', auth=['rc=PAM_SUCCESS'],
                 password=['prompt_off=New password: |n3w'])
    app = pamphlet.ThreadedPamApplication('passwd', 'hank',
                                          confdir=services.confdir)
    step = app.change_authtoken()
    assert [str(p) for p in app.get_data()] == ['New password: ']
    app.set_input(['n3w'])
    assert app.get_data() is None
    step.join(5)
    assert not step.is_alive()
    app.end()


def test_threaded_end_while_waiting(services):
    services.add('sshd', auth=['prompt_off=Password:|secret'])
    app = pamphlet.ThreadedPamApplication('sshd', 'ivy',
                                          confdir=services.confdir)
    step = app.authenticate()
    assert app.get_data()
    app.end()
    step.join(5)
    assert not step.is_alive()
    assert isinstance(step.exception, pamphlet.ConversationError)


def test_threaded_32_concurrent_logins(services):
    services.add('sshd', auth=['info=Hello', 'prompt_off=Password:|secret'])
    n = 32
    results = [None] * n
    barrier = threading.Barrier(n)

    def login(i):
        app = pamphlet.ThreadedPamApplication('sshd', 'user%d' % i,
                                              confdir=services.confdir,
                                              timeout=30)
        try:
            barrier.wait(10)
            good = i % 4 != 0
            result, rounds = _interactive(
                app, lambda p: ('secret' if good else 'bad')
                if p.is_prompt else '')
            results[i] = (good, result, rounds, app.user)
        finally:
            app.end()
    start = time.monotonic()
    threads = [threading.Thread(target=login, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert time.monotonic() - start < 60
    for i, (good, result, rounds, user) in enumerate(results):
        assert user == 'user%d' % i
        assert rounds >= 1
        if good:
            assert result is None
        else:
            assert isinstance(result, pamphlet.AuthenticationError)


def test_item_constants_exported():
    # seveas/pamphlet exports the item types with the return codes
    assert (pamphlet.PAM_SERVICE, pamphlet.PAM_USER, pamphlet.PAM_TTY,
            pamphlet.PAM_RHOST, pamphlet.PAM_RUSER) == (1, 2, 3, 4, 8)
    assert pamphlet.PAM_USER_PROMPT == 9 and pamphlet.PAM_AUTHTOK_TYPE == 13


def test_empty_user_means_no_user(services):
    """PamApplication(svc, ''): no PAM_USER, so PAM asks for one."""
    services.add('svc', auth=['setcred=skip', 'get_user', 'user=carol'])

    class Asked(pamphlet.PamApplication):
        def conversation(self, messages):
            return ['carol' if m.is_prompt else '' for m in messages]

    app = Asked('svc', '', confdir=services.confdir)
    app.authenticate()
    assert app.user == 'carol'
    app.end()


def test_rejected_answer_keeps_the_prompt(services):
    services.add('svc', auth=['prompt_off=Password:|secret'])
    app = pamphlet.ThreadedPamApplication('svc', 'alice',
                                          confdir=services.confdir)
    step = app.authenticate()
    assert [str(m) for m in app.get_data()] == ['Password:']
    with pytest.raises(ValueError):
        app.set_input(['sec\0ret'])      # refused ...
    app.set_input(['secret'])           # ... and the prompt still waits
    assert app.get_data() is None
    step.join()
    app.end()


def test_latin1_password_as_bytes(services, tmp_path):
    """Answers may be bytes and reach PAM unchanged: a password typed in a
    latin-1 terminal logs in (as str it would be UTF-8, other bytes)."""
    svc = tmp_path / 'pam.d' / 'latin1'
    svc.write_bytes(b'auth required ' + services.module.encode()
                    + b' setcred=skip prompt_off=Password:|\xe9t\xe9\n')

    class Latin1(pamphlet.PamApplication):
        answer = b'\xe9t\xe9'

        def conversation(self, messages):
            return [self.answer if m.is_prompt else '' for m in messages]

    app = Latin1('latin1', 'alice', confdir=services.confdir)
    app.authenticate()
    app.end()
    app = Latin1('latin1', 'alice', confdir=services.confdir)
    app.answer = '\xe9t\xe9'             # the same text as str: UTF-8 bytes
    with pytest.raises(pamphlet.AuthenticationError):
        app.authenticate()
    app.end()
    # the threaded application takes bytes too
    app = pamphlet.ThreadedPamApplication('latin1', 'alice',
                                          confdir=services.confdir)
    step = app.authenticate()
    app.get_data()
    app.set_input([b'\xe9t\xe9'])
    assert app.get_data() is None
    step.join()
    app.end()


def test_bytes_service_user_items_and_environ(services, tmp_path):
    """Service, user, items and environment values may be bytes, and reach
    PAM unchanged though they are not UTF-8 (a latin-1 host or user name);
    read back they are str with the bytes kept (surrogateescape)."""
    (tmp_path / 'pam.d' / os.fsdecode(b'svc\xe9')).write_bytes(
        b'auth required ' + services.module.encode()
        + b' setcred=skip user=\xe9mile check_item=rhost:h\xf4te'
        b' check_env=PLACE=caf\xe9\n')
    app = MyApp(b'svc\xe9', b'\xe9mile', confdir=services.confdir)
    app.rhost = b'h\xf4te'
    app.environ['PLACE'] = b'caf\xe9'
    assert app.rhost.encode('utf-8', 'surrogateescape') == b'h\xf4te'
    assert app.environ['PLACE'].encode('utf-8', 'surrogateescape') \
        == b'caf\xe9'
    app.authenticate()
    assert app.user.encode('utf-8', 'surrogateescape') == b'\xe9mile'
    app.end()
    # the module checks: other bytes fail, so the test above compared
    app = MyApp(b'svc\xe9', '\xe9mile', confdir=services.confdir)
    app.rhost = b'h\xf4te'
    app.environ['PLACE'] = b'caf\xe9'
    with pytest.raises(pamphlet.PamError):
        app.authenticate()           # UTF-8 "\xc3\xa9mile" is not the user
    app.end()
    services.add('svc', auth=['rc=PAM_SUCCESS'])
    app = MyApp(b'svc', confdir=services.confdir)
    for bad in (b'a\0b', 'a\0b'):
        with pytest.raises(ValueError):
            app.rhost = bad
        with pytest.raises(ValueError):
            app.environ['X'] = bad
    app.end()
    with pytest.raises(ValueError):
        MyApp(b'', confdir=services.confdir)


def test_threaded_step_is_a_thread_whose_join_returns(services):
    import threading as th
    services.add('svc', auth=['prompt_off=Password:|secret'])
    app = pamphlet.ThreadedPamApplication('svc', 'alice', timeout=0.3,
                                          confdir=services.confdir)
    step = app.authenticate()
    assert isinstance(step, th.Thread)
    assert step.is_alive()
    with pytest.raises(RuntimeError):
        step.start()
    assert [str(m) for m in app.get_data()] == ['Password:']
    # nobody answers: the next get_data() times out, and join() returns
    err = app.get_data()
    assert isinstance(err, TimeoutError)
    t0 = time.monotonic()
    step.join()
    assert time.monotonic() - t0 < 1
    assert not step.is_alive() and step.exception is err
    # the application is usable again
    step = app.authenticate()
    app.get_data()
    app.set_input(['secret'])
    assert app.get_data() is None
    step.join()
    app.end()


def test_conversation_exception_is_the_cause_whatever_the_code(services,
                                                                tmp_path):
    """pam_matrix answers a failed conversation with
    PAM_AUTHINFO_UNAVAIL, not PAM_CONV_ERR: the user's exception is still
    the cause of the PamError."""
    import os
    matrix = '/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so'
    if not os.path.exists(matrix):
        pytest.skip('pam_matrix (libpam-wrapper) not installed')
    (tmp_path / 'passdb').write_text('alice:pw:mx\n')
    (tmp_path / 'pam.d' / 'mx').write_text(
        'auth required %s passdb=%s\n' % (matrix, tmp_path / 'passdb'))

    class Broken(pamphlet.PamApplication):
        def conversation(self, messages):
            raise KeyError('no terminal')

    app = Broken('mx', 'alice', confdir=services.confdir)
    with pytest.raises(pamphlet.PamError) as ei:
        app.authenticate()
    assert ei.value.code != pamphlet.PAM_CONV_ERR
    assert isinstance(ei.value.__cause__, KeyError)
    app.end()
