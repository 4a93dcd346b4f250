"""The owner account: setup code, password policy, argon2id, lockout, sessions, CSRF."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ukscp.clock import VirtualClock
from ukscp.security.credentials import (
    LOCKOUT_MAX_S,
    SLOWDOWN_AFTER,
    SLOWDOWN_SPACING_S,
    InvalidCredentials,
    InvalidSetupCode,
    InvalidUsername,
    LockedOut,
    OwnerAccounts,
    SetupAlreadyDone,
    SetupCodeFile,
    WeakPassword,
    check_password,
    generate_setup_code,
    lockout_duration_s,
)
from ukscp.security.seclog import SecurityLog

USER = "owner"
GOOD = "velvet-otter-harbour-42"
OTHER_GOOD = "quiet-lantern-meadow-97"
CODE_FORMAT = re.compile(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}")


@pytest.fixture
def fast_hasher() -> PasswordHasher:
    """argon2id with tiny parameters: the behaviour under test, not the cost."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def code_file(data_dir: Path) -> SetupCodeFile:
    return SetupCodeFile(data_dir)


@pytest.fixture
def seclog(data_dir: Path, clock: VirtualClock) -> SecurityLog:
    return SecurityLog(data_dir / "security.sqlite3", clock)


@pytest.fixture
def accounts(
    data_dir: Path, clock: VirtualClock, seclog: SecurityLog, fast_hasher: PasswordHasher
) -> OwnerAccounts:
    return OwnerAccounts(data_dir / "accounts.sqlite3", clock, seclog=seclog, hasher=fast_hasher)


@pytest.fixture
def owned(accounts: OwnerAccounts, code_file: SetupCodeFile) -> OwnerAccounts:
    """Accounts with the owner set up."""
    code = accounts.prepare_setup(code_file)
    assert code is not None
    accounts.complete_setup(code, USER, GOOD, code_file)
    return accounts


def types(seclog: SecurityLog) -> list[str]:
    return [r.type for r in reversed(seclog.records(limit=1000))]


# --- setup code ---------------------------------------------------------------------------


def test_setup_code_is_unique_per_device(tmp_path: Path):
    codes = {SetupCodeFile(tmp_path / f"device{i}").ensure() for i in range(20)}
    assert len(codes) == 20


def test_setup_code_has_80_bits_in_an_unambiguous_alphabet():
    code = generate_setup_code()
    assert CODE_FORMAT.fullmatch(code)
    assert not set(code) & set("01IO")


def test_setup_code_file_is_0600_and_stable_until_consumed(code_file: SetupCodeFile):
    code = code_file.ensure()
    assert code is not None
    assert stat.S_IMODE(code_file.path.stat().st_mode) == 0o600
    assert code_file.path.read_text().strip() == code
    assert code_file.ensure() == code
    assert code_file.current() == code


def test_setup_code_compare_ignores_case_spaces_and_dashes(code_file: SetupCodeFile):
    code = code_file.ensure()
    assert code is not None
    assert code_file.matches(" " + code.lower().replace("-", " ") + " ")
    assert not code_file.matches(code[:-1])
    assert not code_file.matches("")


def test_a_corrupt_setup_code_file_is_replaced(code_file: SetupCodeFile):
    code_file.ensure()
    code_file.path.write_text("garbage")
    new = code_file.ensure()
    assert new is not None and CODE_FORMAT.fullmatch(new)


def test_setup_creates_the_owner_and_consumes_the_code(
    accounts: OwnerAccounts, code_file: SetupCodeFile, seclog: SecurityLog
):
    code = accounts.prepare_setup(code_file)
    assert code is not None and not accounts.setup_done
    accounts.complete_setup(code, USER, GOOD, code_file)
    assert accounts.setup_done
    assert not code_file.path.exists()
    assert code_file.ensure() is None
    assert code_file.current() is None
    assert accounts.prepare_setup(code_file) is None
    assert types(seclog)[-1] == "OwnerSetupCompleted"


def test_wrong_setup_code_is_refused(accounts: OwnerAccounts, code_file: SetupCodeFile):
    accounts.prepare_setup(code_file)
    with pytest.raises(InvalidSetupCode):
        accounts.complete_setup("AAAA-BBBB-CCCC-DDDD", USER, GOOD, code_file)
    assert not accounts.setup_done
    assert code_file.current() is not None


def test_setup_runs_only_once(owned: OwnerAccounts, code_file: SetupCodeFile):
    with pytest.raises(SetupAlreadyDone):
        owned.complete_setup("anything", "intruder", OTHER_GOOD, code_file)


def test_setup_with_a_weak_password_keeps_the_code(
    accounts: OwnerAccounts, code_file: SetupCodeFile
):
    code = accounts.prepare_setup(code_file)
    assert code is not None
    with pytest.raises(WeakPassword):
        accounts.complete_setup(code, USER, "password", code_file)
    assert code_file.current() == code


def test_setup_refuses_a_bad_username(accounts: OwnerAccounts, code_file: SetupCodeFile):
    code = accounts.prepare_setup(code_file)
    assert code is not None
    with pytest.raises(InvalidUsername):
        accounts.complete_setup(code, "owner; drop table", GOOD, code_file)


def test_guessing_the_setup_code_gets_the_client_locked_out(
    accounts: OwnerAccounts, code_file: SetupCodeFile
):
    code = accounts.prepare_setup(code_file)
    assert code is not None
    for _ in range(5):
        with pytest.raises(InvalidSetupCode):
            accounts.complete_setup("WRNG-WRNG-WRNG-WRNG", USER, GOOD, code_file, client="x")
    with pytest.raises(LockedOut):
        accounts.complete_setup(code, USER, GOOD, code_file, client="x")


def test_a_lost_account_store_gets_a_new_setup_code(
    owned: OwnerAccounts, data_dir: Path, clock: VirtualClock, code_file: SetupCodeFile
):
    fresh = OwnerAccounts(data_dir / "replacement.sqlite3", clock)
    code = fresh.prepare_setup(code_file)
    assert code is not None and CODE_FORMAT.fullmatch(code)


# --- password policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("Tr0ub4!", "at least 10 characters"),
        ("qwertyuiop", "too easy to guess"),
        ("password123", "common"),
        ("aaaaaaaaaaaaaa", "Repeats"),
        ("owner-velvet-otter-9", "username"),
        ("x" * 129, "at most 128"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, words: str):
    with pytest.raises(WeakPassword) as caught:
        check_password(password, USER)
    assert words in caught.value.reason


@pytest.mark.parametrize("password", [GOOD, "correct horse battery staple", "Zq7#mW2!pL9@vR4x"])
def test_strong_passwords_pass(password: str):
    check_password(password, USER)


def test_stored_hash_is_argon2id_with_real_parameters(
    data_dir: Path, clock: VirtualClock, code_file: SetupCodeFile
):
    accounts = OwnerAccounts(data_dir / "accounts.sqlite3", clock)
    code = accounts.prepare_setup(code_file)
    assert code is not None
    accounts.complete_setup(code, USER, GOOD, code_file)
    db = sqlite3.connect(data_dir / "accounts.sqlite3")
    (stored,) = db.execute("SELECT password_hash FROM accounts").fetchone()
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert accounts.login(USER, GOOD, "c").username == USER


def test_hash_is_upgraded_when_the_parameters_change(
    owned: OwnerAccounts, data_dir: Path, clock: VirtualClock
):
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    upgraded = OwnerAccounts(data_dir / "accounts.sqlite3", clock, hasher=stronger)
    upgraded.login(USER, GOOD, "c")
    db = sqlite3.connect(data_dir / "accounts.sqlite3")
    (stored,) = db.execute("SELECT password_hash FROM accounts").fetchone()
    assert "m=16,t=2,p=1" in stored


# --- login and lockout --------------------------------------------------------------------


def test_login_gives_a_session_token(owned: OwnerAccounts, seclog: SecurityLog):
    session = owned.login(USER, GOOD, "192.0.2.1")
    assert session.username == USER
    assert len(session.token) >= 43
    assert owned.authenticate(session.token) == USER
    assert session.token not in repr(session)
    assert types(seclog)[-1] == "LoginSucceeded"


def test_usernames_are_case_insensitive(owned: OwnerAccounts):
    assert owned.login("OWNER", GOOD, "c").username == USER


def test_only_a_hash_of_the_token_is_stored(owned: OwnerAccounts, data_dir: Path):
    session = owned.login(USER, GOOD, "c")
    content = (data_dir / "accounts.sqlite3").read_bytes()
    wal = data_dir / "accounts.sqlite3-wal"
    content += wal.read_bytes() if wal.exists() else b""
    assert session.token.encode() not in content
    assert hashlib.sha256(session.token.encode()).hexdigest().encode() in content


def test_wrong_password_and_unknown_user_fail_alike(owned: OwnerAccounts, seclog: SecurityLog):
    with pytest.raises(InvalidCredentials) as wrong_password:
        owned.login(USER, "not-the-password-at-all", "c1")
    with pytest.raises(InvalidCredentials) as unknown_user:
        owned.login("nobody", GOOD, "c2")
    assert str(wrong_password.value) == str(unknown_user.value)
    assert types(seclog)[-2:] == ["LoginFailed", "LoginFailed"]
    assert "(unknown user)" in seclog.records(limit=1)[0].info


async def test_lockout_grows_and_lifts_as_time_passes(owned: OwnerAccounts, clock: VirtualClock):
    for _ in range(4):
        with pytest.raises(InvalidCredentials) as caught:
            owned.login(USER, "wrong-guess-1234", "attacker")
        assert caught.value.locked_for_s is None
    with pytest.raises(InvalidCredentials) as fifth:
        owned.login(USER, "wrong-guess-1234", "attacker")
    assert fifth.value.locked_for_s == 30
    # Locked: even the right password is not checked.
    with pytest.raises(LockedOut) as locked:
        owned.login(USER, GOOD, "attacker")
    assert locked.value.retry_after_s == pytest.approx(30)

    await clock.advance(30)
    with pytest.raises(InvalidCredentials) as sixth:
        owned.login(USER, "wrong-guess-1234", "attacker")
    assert sixth.value.locked_for_s == 60
    await clock.advance(59)
    with pytest.raises(LockedOut) as again:
        owned.login(USER, GOOD, "attacker")
    assert again.value.retry_after_s == pytest.approx(1)

    await clock.advance(1)
    assert owned.login(USER, GOOD, "attacker").username == USER
    # Success starts the count again.
    with pytest.raises(InvalidCredentials) as after:
        owned.login(USER, "wrong-guess-1234", "attacker")
    assert after.value.locked_for_s is None


def test_lockout_doubles_up_to_an_hour():
    assert [lockout_duration_s(n) for n in range(4, 9)] == [0, 30, 60, 120, 240]
    assert lockout_duration_s(12) == LOCKOUT_MAX_S
    assert lockout_duration_s(10_000) == LOCKOUT_MAX_S


def fail(accounts: OwnerAccounts, client: str, device: str | None = None, user: str = USER):
    with pytest.raises(InvalidCredentials):
        accounts.login(user, "wrong-guess-1234", client, device)


def test_a_stranger_locks_out_only_their_own_address(owned: OwnerAccounts):
    for _ in range(5):
        fail(owned, "stranger")
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "stranger")
    assert owned.login(USER, GOOD, "the-owner").username == USER


async def test_a_stranger_guessing_each_time_the_lockout_ends_never_keeps_the_owner_out(
    owned: OwnerAccounts, clock: VirtualClock
):
    # Before, the username itself was locked: one guess as each lockout ended (the
    # 429 says when) kept the owner out for good.
    locked_for = 0.0
    for _ in range(12):
        await clock.advance(locked_for)
        with pytest.raises(InvalidCredentials) as failed:
            owned.login(USER, "wrong-guess-1234", "stranger")
        locked_for = failed.value.locked_for_s or 0.0
    assert locked_for == LOCKOUT_MAX_S  # the stranger is locked out now, for an hour
    assert owned.login(USER, GOOD, "the-owner").username == USER


async def test_guessing_from_ever_new_addresses_is_slowed_for_that_username(
    owned: OwnerAccounts, clock: VirtualClock, seclog: SecurityLog
):
    for i in range(SLOWDOWN_AFTER):
        fail(owned, f"2001:db8::{i}")
    assert "slowed to one every 10 s" in seclog.records(limit=1)[0].info
    with pytest.raises(LockedOut) as slowed:
        owned.login(USER, GOOD, "2001:db8::ffff")
    assert slowed.value.retry_after_s == pytest.approx(SLOWDOWN_SPACING_S)
    await clock.advance(SLOWDOWN_SPACING_S)
    fail(owned, "2001:db8::fffe")  # one check each 10 s, from any address
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "2001:db8::fffd")
    # Another username is not slowed by it.
    fail(owned, "2001:db8::fffc", user="someone")


async def test_a_browser_the_owner_used_is_never_locked_out_by_others(
    owned: OwnerAccounts, clock: VirtualClock
):
    device = owned.login(USER, GOOD, "home-nat").device
    assert device
    # A stranger behind the same NAT, and others from everywhere.
    for _ in range(5):
        fail(owned, "home-nat")
    for i in range(SLOWDOWN_AFTER - 5):
        fail(owned, f"2001:db8::{i}")
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "home-nat")
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "2001:db8::ffff")
    again = owned.login(USER, GOOD, "home-nat", device)
    assert again.username == USER
    assert again.device == device


def test_guessing_with_a_device_token_locks_that_token_out(owned: OwnerAccounts):
    device = owned.login(USER, GOOD, "laptop").device
    for _ in range(5):
        fail(owned, "laptop", device)
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "laptop", device)
    # The token is the owner's, not a key to another username.
    for _ in range(5):
        fail(owned, "elsewhere", device, user="someone")
    with pytest.raises(LockedOut):
        owned.login("someone", GOOD, "elsewhere", device)


def test_a_device_token_unknown_or_forged_counts_as_no_token(owned: OwnerAccounts):
    for _ in range(5):
        fail(owned, "stranger", "forged-device-token")
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "stranger", "another-forged-token")


def test_ending_every_session_also_forgets_the_browsers_logged_in_from(owned: OwnerAccounts):
    first = owned.login(USER, GOOD, "laptop")
    assert owned.login(USER, GOOD, "laptop", first.device).device == first.device
    assert owned.end_sessions(USER) == 2
    assert owned.authenticate(first.token) is None
    # A forgotten browser is an unknown one: it is given a new device token.
    assert owned.login(USER, GOOD, "laptop", first.device).device != first.device


def test_a_session_is_not_ended_by_failures_from_elsewhere(owned: OwnerAccounts):
    session = owned.login(USER, GOOD, "the-owner")
    for i in range(SLOWDOWN_AFTER + 5):
        with contextlib.suppress(InvalidCredentials, LockedOut):
            owned.login(USER, "wrong-guess-1234", f"10.0.0.{i % 3}")
    assert owned.authenticate(session.token) == USER


def test_clearing_lockouts_lets_everyone_try_again_and_is_logged(
    owned: OwnerAccounts, seclog: SecurityLog
):
    for _ in range(5):
        fail(owned, "home")
    for i in range(SLOWDOWN_AFTER - 5):
        fail(owned, f"2001:db8::{i}")
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "home")
    assert owned.clear_lockouts() > 0
    assert owned.login(USER, GOOD, "home").username == USER
    cleared = [r for r in seclog.records(limit=10) if r.type == "LockoutsCleared"]
    assert len(cleared) == 1
    assert "from the console" in cleared[0].info


def test_lockout_is_per_client_across_usernames(owned: OwnerAccounts):
    for i in range(5):
        with pytest.raises(InvalidCredentials):
            owned.login(f"user{i}", "wrong-guess-1234", "sprayer")
    with pytest.raises(LockedOut):
        owned.login(USER, GOOD, "sprayer")
    assert owned.login(USER, GOOD, "the-owner").username == USER


def test_lockout_is_security_logged(owned: OwnerAccounts, seclog: SecurityLog):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            owned.login(USER, "wrong-guess-1234", "attacker")
    record = seclog.records(limit=1)[0]
    assert record.type == "AccountLockedOut"
    assert record.critical
    assert "locked for 30 s" in record.info


def test_lockout_survives_a_restart(
    owned: OwnerAccounts, data_dir: Path, clock: VirtualClock, fast_hasher: PasswordHasher
):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            owned.login(USER, "wrong-guess-1234", "attacker")
    restarted = OwnerAccounts(data_dir / "accounts.sqlite3", clock, hasher=fast_hasher)
    with pytest.raises(LockedOut):
        restarted.login(USER, GOOD, "attacker")


# --- sessions -----------------------------------------------------------------------------


async def test_session_ends_after_two_idle_hours(owned: OwnerAccounts, clock: VirtualClock):
    session = owned.login(USER, GOOD, "c")
    await clock.advance(2 * 3600 - 1)
    assert owned.authenticate(session.token) == USER
    await clock.advance(2 * 3600 - 1)
    assert owned.authenticate(session.token) == USER
    await clock.advance(2 * 3600)
    assert owned.authenticate(session.token) is None


async def test_session_ends_after_twelve_hours_however_active(
    owned: OwnerAccounts, clock: VirtualClock
):
    session = owned.login(USER, GOOD, "c")
    for _ in range(11):
        await clock.advance(3600)
        assert owned.authenticate(session.token) == USER
    await clock.advance(3600)
    assert owned.authenticate(session.token) is None


def test_session_ends_when_the_wall_clock_goes_back(owned: OwnerAccounts, clock: VirtualClock):
    session = owned.login(USER, GOOD, "c")
    clock.set_wall_time(clock.now().replace(year=2025))
    assert owned.authenticate(session.token) is None


def test_sessions_survive_a_restart(
    owned: OwnerAccounts, data_dir: Path, clock: VirtualClock, fast_hasher: PasswordHasher
):
    session = owned.login(USER, GOOD, "c")
    restarted = OwnerAccounts(data_dir / "accounts.sqlite3", clock, hasher=fast_hasher)
    assert restarted.authenticate(session.token) == USER


@pytest.mark.parametrize("token", ["", "made-up", "x" * 10_000])
def test_unknown_tokens_do_not_authenticate(owned: OwnerAccounts, token: str):
    assert owned.authenticate(token) is None


def test_logout_ends_the_session(owned: OwnerAccounts, seclog: SecurityLog):
    session = owned.login(USER, GOOD, "c")
    assert owned.logout(session.token) == USER
    assert owned.authenticate(session.token) is None
    assert owned.logout(session.token) is None
    assert types(seclog)[-1] == "Logout"


def test_password_change_ends_the_other_sessions(owned: OwnerAccounts, seclog: SecurityLog):
    mine = owned.login(USER, GOOD, "laptop")
    other = owned.login(USER, GOOD, "phone")
    ended = owned.change_password(USER, GOOD, OTHER_GOOD, current_token=mine.token)
    assert ended == 1
    assert owned.authenticate(mine.token) == USER
    assert owned.authenticate(other.token) is None
    with pytest.raises(InvalidCredentials):
        owned.login(USER, GOOD, "laptop")
    assert owned.login(USER, OTHER_GOOD, "laptop").username == USER
    assert "PasswordChanged" in types(seclog)


def test_password_change_needs_the_old_password(owned: OwnerAccounts):
    session = owned.login(USER, GOOD, "c")
    with pytest.raises(InvalidCredentials):
        owned.change_password(USER, "not-the-old-one-99", OTHER_GOOD, current_token=session.token)
    assert owned.login(USER, GOOD, "c").username == USER


@pytest.mark.parametrize("new", ["short", "password123", GOOD])
def test_password_change_refuses_weak_or_unchanged_passwords(owned: OwnerAccounts, new: str):
    with pytest.raises(WeakPassword):
        owned.change_password(USER, GOOD, new)


def test_too_many_sessions_end_the_oldest(owned: OwnerAccounts):
    sessions = [owned.login(USER, GOOD, "c") for _ in range(11)]
    assert owned.authenticate(sessions[0].token) is None
    assert all(owned.authenticate(s.token) == USER for s in sessions[1:])


# --- CSRF ---------------------------------------------------------------------------------


def test_each_session_has_its_own_csrf_token(owned: OwnerAccounts):
    first = owned.login(USER, GOOD, "c")
    second = owned.login(USER, GOOD, "c")
    assert owned.csrf_token(first.token) == first.csrf
    assert owned.check_csrf(first.token, first.csrf)
    assert not owned.check_csrf(first.token, second.csrf)
    assert not owned.check_csrf(first.token, "")
    assert not owned.check_csrf("made-up", first.csrf)


def test_csrf_token_dies_with_its_session(owned: OwnerAccounts):
    session = owned.login(USER, GOOD, "c")
    owned.logout(session.token)
    assert owned.csrf_token(session.token) is None
    assert not owned.check_csrf(session.token, session.csrf)
