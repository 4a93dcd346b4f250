"""The owner account: no default password, a one-time setup code, argon2id, lockout.

First start: :class:`SetupCodeFile` makes a one-time code, unique to this device
(drawn with :mod:`secrets`, never derived from a serial number or MAC address)
and writes it to ``data_dir/setup-code`` (0600) for the console or a label. The
owner proves physical access with it while choosing a username and password
(:meth:`OwnerAccounts.complete_setup`); the code is then consumed and
``data_dir/setup-done`` marks that it must not come back.

Passwords are checked by :func:`check_password` (length, zxcvbn strength, not
containing the username) and stored as argon2id hashes. Sessions are random
tokens of which only a SHA-256 is stored, with idle and absolute expiry and a
CSRF token each.

Guessing is stopped without letting a stranger keep the owner out (OWASP's
"slow brute force protection with device cookies"):

* a browser the owner has logged in from keeps a *device token* (a cookie, 400
  days); its failures count against that token alone, so failures from anywhere
  else never lock it out;
* anything else is locked out per (username, client address) and per address
  across usernames, exponentially after 5 failures; a stranger locks out only
  their own address;
* an attacker who rotates addresses meets a slow-down per username: after 20
  failures from unknown devices, one check every 10 s from unknown devices (about
  8,600 guesses a day; a zxcvbn score of 3 means more than 10^8 guesses);
* a session is never ended by failures; and the console (physical access) clears
  every lockout: ``ukscp owner unlock``, which the security log records.

Security log: when given a :class:`~ukscp.security.seclog.SecurityLog`,
:class:`OwnerAccounts` writes OwnerSetupCompleted, LoginSucceeded, LoginFailed,
AccountLockedOut, Logout and PasswordChanged itself; callers write nothing for
these. Every outcome is also returned or raised, so callers can answer the user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import stat
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ukscp.clock import LONDON, Clock
from ukscp.security.seclog import SecurityEventType, SecurityLog
from ukscp.storage import open_database

_log = logging.getLogger(__name__)

ACCOUNTS_FILE = "accounts.sqlite3"
SETUP_CODE_FILE = "setup-code"
SETUP_DONE_FILE = "setup-done"

# 32 symbols without 0/O and 1/I, which are misread on labels; 16 of them carry
# 80 bits, out of reach of online guessing even without the rate limit.
SETUP_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
SETUP_CODE_GROUPS = 4
SETUP_CODE_GROUP_LEN = 4

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 128
MIN_ZXCVBN_SCORE = 3
# zxcvbn refuses longer input (its matching is super-linear); a password whose
# first 72 characters are strong is strong.
_ZXCVBN_MAX_CHARS = 72
# Words an attacker tries first on this device, as well as the username.
_CONTEXT_WORDS = ("ukscp", "charger", "chargepoint", "charge point", "evcharger")

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")

LOCKOUT_THRESHOLD = 5  # failures before the first lockout (per key)
LOCKOUT_BASE_S = 30.0  # first lockout; doubles with each further failure
LOCKOUT_MAX_S = 3600.0
# A counter with no failure for this long starts again from zero.
FAILURE_MEMORY_S = 24 * 3600.0
# Failures for one username from unknown devices, from any addresses, before the
# slow-down; then one password check each SLOWDOWN_SPACING_S from unknown devices.
SLOWDOWN_AFTER = 20
SLOWDOWN_SPACING_S = 10.0
# A device token unused this long is forgotten (browsers keep a cookie 400 days at most).
DEVICE_MEMORY_S = 400 * 24 * 3600.0
MAX_DEVICES_PER_USER = 20

SESSION_ABSOLUTE_S = 12 * 3600.0
SESSION_IDLE_S = 2 * 3600.0
# last_seen is written at most this often: the flash card need not see a write
# per page load, and idle expiry does not need one-second precision.
_TOUCH_EVERY_S = 60.0
# A session seen this far in the future means the wall clock went back: end it
# rather than let it outlive its limits.
_CLOCK_SKEW_S = 60.0
MAX_SESSIONS_PER_USER = 10
_MAX_TOKEN_CHARS = 128


class CredentialError(Exception):
    """Base of the errors of this module."""


class InvalidSetupCode(CredentialError):
    """The setup code is wrong (or there is none any more)."""


class SetupAlreadyDone(CredentialError):
    """The owner account exists; setup cannot run again."""


class InvalidUsername(CredentialError, ValueError):
    """The username is not 1-64 characters of letters, digits and ``._@+-``."""


class WeakPassword(CredentialError, ValueError):
    """The password does not meet the policy; ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidCredentials(CredentialError):
    """Wrong username or password (never which one).

    ``locked_for_s`` is set when this failure started a lockout.
    """

    def __init__(self, locked_for_s: float | None = None) -> None:
        super().__init__("invalid username or password")
        self.locked_for_s = locked_for_s


class LockedOut(CredentialError):
    """Too many failures: try again in ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


# --- setup code ---------------------------------------------------------------------------


def generate_setup_code() -> str:
    """A fresh one-time code, e.g. ``K7QH-3MZX-R8PD-W2NA`` (80 bits from ``secrets``)."""
    groups = (
        "".join(secrets.choice(SETUP_CODE_ALPHABET) for _ in range(SETUP_CODE_GROUP_LEN))
        for _ in range(SETUP_CODE_GROUPS)
    )
    return "-".join(groups)


def normalise_setup_code(text: str) -> str:
    """``text`` upper-cased without spaces or dashes, as codes are compared."""
    return "".join(ch for ch in text.upper() if not ch.isspace() and ch != "-")


def setup_codes_match(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, tolerant of case, spaces and dashes."""
    return hmac.compare_digest(
        normalise_setup_code(given).encode("utf-8"),
        normalise_setup_code(expected).encode("utf-8"),
    )


def _well_formed(code: str) -> bool:
    plain = normalise_setup_code(code)
    return len(plain) == SETUP_CODE_GROUPS * SETUP_CODE_GROUP_LEN and all(
        ch in SETUP_CODE_ALPHABET for ch in plain
    )


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SetupCodeFile:
    """The one-time setup code in ``data_dir/setup-code`` (mode 0600).

    ``data_dir/setup-done`` records that setup happened, so no new code is made
    after the first one is consumed.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / SETUP_CODE_FILE
        self.done_path = data_dir / SETUP_DONE_FILE

    @property
    def done(self) -> bool:
        """Whether setup has been completed (the code was consumed)."""
        return self.done_path.exists()

    def ensure(self) -> str | None:
        """The current code, made on first call; None once setup is done."""
        if self.done:
            # A crash between writing the marker and deleting the code leaves it.
            self.path.unlink(missing_ok=True)
            return None
        existing = self._read()
        if existing is not None:
            return existing
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        code = generate_setup_code()
        try:
            # O_EXCL: if another process made a code meanwhile, keep theirs;
            # the mode is set at creation, so the code is never world-readable.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
        except FileExistsError:
            return self._read()
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(code + "\n")
            out.flush()
            os.fsync(out.fileno())
        _log.info("made a new one-time setup code in %s", self.path)
        return code

    def current(self) -> str | None:
        """The code if there is one and setup is not done; never makes one."""
        if self.done:
            return None
        return self._read()

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the current code (False when there is none)."""
        current = self.current()
        if current is None:
            return False
        return setup_codes_match(given, current)

    def consume(self) -> None:
        """Mark setup as done and delete the code (idempotent)."""
        self.done_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The marker first: a crash in between then leaves no usable code.
        with contextlib.suppress(FileExistsError):
            fd = os.open(self.done_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        self.path.unlink(missing_ok=True)

    def reset(self) -> None:
        """Forget that setup was done (the account store was lost); a new code follows."""
        self.done_path.unlink(missing_ok=True)

    def _read(self) -> str | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            # e.g. a symlink planted in place of the file (O_NOFOLLOW)
            _log.warning("setup code file %s unusable (%s); replacing it", self.path, exc)
            self.path.unlink(missing_ok=True)
            return None
        with os.fdopen(fd, encoding="ascii", errors="replace") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            text = handle.read(256).strip()
        if stat.S_IMODE(mode) & 0o077:
            _log.warning("setup code file %s was readable by others; now 0600", self.path)
            self.path.chmod(0o600)
        if not _well_formed(text):
            _log.warning("setup code file %s is corrupt; making a new code", self.path)
            self.path.unlink(missing_ok=True)
            return None
        return text


# --- password policy ----------------------------------------------------------------------


def check_username(username: str) -> None:
    """Raise :class:`InvalidUsername` unless ``username`` is acceptable."""
    if not _USERNAME.fullmatch(username):
        raise InvalidUsername(
            "a username is 1 to 64 letters, digits or . _ @ + -, starting with a letter or digit"
        )


def check_password(password: str, username: str) -> None:
    """Raise :class:`WeakPassword` with the reason unless ``password`` meets the policy.

    At least 10 characters (at most 128), not containing the username, and a
    zxcvbn score of at least 3 ("safely unguessable").
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_CHARS} characters.")
    # A one- or two-letter username would refuse half of all passwords.
    if len(username) >= 3 and username.casefold() in password.casefold():
        raise WeakPassword("The password must not contain the username.")
    # Imported here: its word lists take ~13 MB, needed only when a password is set.
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    result = zxcvbn(password[:_ZXCVBN_MAX_CHARS], user_inputs=[username, *_CONTEXT_WORDS])
    if int(result["score"]) < MIN_ZXCVBN_SCORE:
        feedback = result.get("feedback") or {}
        words = [str(feedback.get("warning") or "").strip()]
        words += [str(s).strip() for s in feedback.get("suggestions") or ()]
        detail = " ".join(w for w in words if w)
        reason = "This password is too easy to guess."
        raise WeakPassword(f"{reason} {detail}" if detail else f"{reason} Add more words.")


# --- accounts and sessions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The counters of one login attempt: lockouts, and the username's slow-down."""

    lockout_keys: list[str]
    slowdown_key: str | None


@dataclass(frozen=True, slots=True)
class SessionToken:
    """A new session: give ``token`` to the client; ``csrf`` goes in its forms."""

    token: str = field(repr=False)
    csrf: str = field(repr=False)
    username: str
    expires_at: datetime
    # This browser's device token, for its long-lived cookie (see the module doc).
    device: str = field(default="", repr=False)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username            TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash       TEXT NOT NULL,  -- argon2id, PHC string
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash  TEXT PRIMARY KEY,  -- SHA-256 hex of the token; the token is never stored
    username    TEXT NOT NULL COLLATE NOCASE
                REFERENCES accounts (username) ON DELETE CASCADE ON UPDATE CASCADE,
    csrf        TEXT NOT NULL,
    created_s   REAL NOT NULL,     -- wall time, UTC epoch seconds
    last_seen_s REAL NOT NULL,
    client      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (username);
CREATE TABLE IF NOT EXISTS failures (
    -- 'pair:<name>|<address>', 'client:<address>', 'device:<token hash>' (locked out),
    -- 'user:<name>' (the slow-down of unknown devices)
    key            TEXT PRIMARY KEY,
    count          INTEGER NOT NULL,
    last_failure_s REAL NOT NULL,
    locked_until_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    token_hash  TEXT PRIMARY KEY,  -- SHA-256 hex of the device token
    username    TEXT NOT NULL COLLATE NOCASE
                REFERENCES accounts (username) ON DELETE CASCADE ON UPDATE CASCADE,
    last_used_s REAL NOT NULL
);
"""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def lockout_duration_s(failures: int) -> float:
    """Seconds locked after ``failures`` consecutive failures (0 below the threshold)."""
    if failures < LOCKOUT_THRESHOLD:
        return 0.0
    # Capped exponent: 2**n for a huge n would be a needless big number.
    exponent = min(failures - LOCKOUT_THRESHOLD, 32)
    return min(LOCKOUT_BASE_S * 2.0**exponent, LOCKOUT_MAX_S)


class OwnerAccounts:
    """Owner accounts, sessions and login rate limits in one SQLite file.

    Thread-safe. Pass ``seclog`` to have the security-relevant outcomes logged
    here; ``hasher`` exists for tests (argon2-cffi's defaults otherwise).
    """

    def __init__(
        self,
        path: Path,
        clock: Clock,
        *,
        seclog: SecurityLog | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._clock = clock
        self._seclog = seclog
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._lock = threading.RLock()
        self._db = open_database(path, _SCHEMA)
        self._dummy_hash: str | None = None
        self._setup_done = False

    # -- setup --

    @property
    def setup_done(self) -> bool:
        """Whether an owner account exists."""
        # Asked on every request; accounts are never deleted, so once true it stays true.
        if not self._setup_done:
            with self._lock:
                found = self._db.execute("SELECT 1 FROM accounts LIMIT 1").fetchone()
            self._setup_done = found is not None
        return self._setup_done

    def prepare_setup(self, setup_code_file: SetupCodeFile) -> str | None:
        """At start: the setup code to show, or None when setup is done.

        Reconciles the code file with the accounts: a done account consumes any
        leftover code; a lost account store (no account, but the setup-done
        marker) gets a new code, as a factory reset would.
        """
        if self.setup_done:
            setup_code_file.consume()
            return None
        if setup_code_file.done:
            _log.warning("setup was done but no owner account exists: new setup code")
            setup_code_file.reset()
        return setup_code_file.ensure()

    def complete_setup(
        self,
        code: str,
        username: str,
        password: str,
        setup_code_file: SetupCodeFile,
        *,
        client: str = "local",
    ) -> None:
        """Create the owner account, proving physical access with the setup code.

        Raises :class:`SetupAlreadyDone`, :class:`LockedOut` (too many wrong
        codes from ``client``), :class:`InvalidSetupCode`, :class:`InvalidUsername`
        or :class:`WeakPassword`, checked in that order; consumes the code on success.
        """
        if self.setup_done:
            raise SetupAlreadyDone("the owner account already exists")
        keys = [self._client_key(client)]
        with self._lock:
            retry = self._retry_after(_Attempt(keys, None), self._now_s())
            if retry > 0:
                raise LockedOut(retry)
            if not setup_code_file.matches(code):
                locked_for = self._add_failure(keys, self._now_s())
                self._log_event(
                    SecurityEventType.LOGIN_FAILED, f"wrong setup code; client={client}"
                )
                if locked_for:
                    self._log_lockout(client, None, locked_for)
                raise InvalidSetupCode("the setup code is not correct")
        check_username(username)
        check_password(password, username)
        password_hash = self._hasher.hash(password)
        now = self._clock.now().isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None:
                    raise SetupAlreadyDone("the owner account already exists")
                self._db.execute(
                    "INSERT INTO accounts (username, password_hash, created_at,"
                    " password_changed_at) VALUES (?, ?, ?, ?)",
                    (username, password_hash, now, now),
                )
                self._db.execute("DELETE FROM failures WHERE key = ?", (keys[0],))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        # After the commit: a crash in between leaves a code that prepare_setup removes.
        setup_code_file.consume()
        self._log_event(
            SecurityEventType.OWNER_SETUP_COMPLETED, f"user={username}; client={client}"
        )

    # -- login and sessions --

    def login(
        self, username: str, password: str, client: str, device: str | None = None
    ) -> SessionToken:
        """Start a session for valid credentials.

        ``device`` is the device token the browser sent, if any. Raises
        :class:`LockedOut` while this attempt is locked out or slowed down
        (nothing is checked then), :class:`InvalidCredentials` on a wrong username
        or password; verification takes the same time either way.
        """
        row, attempt = self._counted_check(
            username, password, client, device, f"user={{user}}; client={client}"
        )
        account = str(row[0])
        now = self._now_s()
        with self._lock:
            self._succeeded(attempt)
            self._maybe_rehash(account, row[1], password)
            session = self._new_session(account, client, now)
            known = self._remember_device(account, device, now)
        self._log_event(SecurityEventType.LOGIN_SUCCEEDED, f"user={account}; client={client}")
        return dataclasses.replace(session, device=known)

    def check_not_locked(self, username: str, client: str, device: str | None = None) -> None:
        """Raise :class:`LockedOut` if a login attempt now would be refused unchecked.

        Cheap (no hashing): callers ask before queueing a password check.
        """
        attempt = self._attempt(username, client, device)
        with self._lock:
            retry = self._retry_after(attempt, self._now_s())
        if retry > 0:
            raise LockedOut(retry)

    def clear_lockouts(self) -> int:
        """The owner's way back (from the console): forget every failure; returns how many."""
        with self._lock:
            cleared = self._db.execute("DELETE FROM failures").rowcount
        self._log_event(
            SecurityEventType.LOCKOUTS_CLEARED,
            f"login lockouts cleared from the console ({cleared} counters)",
        )
        return int(cleared)

    def _counted_check(
        self, username: str, password: str, client: str, device: str | None, failure_info: str
    ) -> tuple[tuple[Any, ...], _Attempt]:
        """Check a password under the lockout rules; the account row and the attempt's keys.

        Raises :class:`LockedOut` while the attempt is locked out or slowed down
        (nothing is checked then) and :class:`InvalidCredentials` for a wrong
        username or password, logged with ``failure_info`` (``{user}`` filled in).
        Verification takes the same time whether or not the user exists.
        """
        attempt = self._attempt(username, client, device)
        now = self._now_s()
        with self._lock:
            retry = self._retry_after(attempt, now)
            if retry > 0:
                raise LockedOut(retry)
            # Counted as a failure before verifying, and undone on success, so
            # parallel guesses cannot all slip in before the first is counted.
            locked_for = self._add_failure(attempt.lockout_keys, now)
            slowed = self._count_for_slowdown(attempt.slowdown_key, now)
            row = self._db.execute(
                "SELECT username, password_hash FROM accounts WHERE username = ?", (username,)
            ).fetchone()
        ok = self._verify(row[1] if row is not None else self._dummy(), password)
        if row is None or not ok:
            who = row[0] if row is not None else "(unknown user)"
            self._log_event(SecurityEventType.LOGIN_FAILED, failure_info.format(user=who))
            if locked_for:
                self._log_lockout(client, who, locked_for)
            if slowed:
                self._log_event(
                    SecurityEventType.ACCOUNT_LOCKED_OUT,
                    f"user={who}; {SLOWDOWN_AFTER} failures from unknown devices: logins from"
                    f" them slowed to one every {SLOWDOWN_SPACING_S:.0f} s",
                )
            raise InvalidCredentials(locked_for or None)
        return tuple(row), attempt

    def authenticate(self, token: str) -> str | None:
        """The username of a live session, or None; counts as activity for idle expiry."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
            return None
        digest = _token_hash(token)
        now = self._now_s()
        with self._lock:
            row = self._db.execute(
                "SELECT username, created_s, last_seen_s FROM sessions WHERE token_hash = ?",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            username, created_s, last_seen_s = str(row[0]), float(row[1]), float(row[2])
            if self._expired(created_s, last_seen_s, now):
                self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))
                return None
            if now - last_seen_s >= _TOUCH_EVERY_S:
                self._db.execute(
                    "UPDATE sessions SET last_seen_s = ? WHERE token_hash = ?", (now, digest)
                )
        return username

    def logout(self, token: str) -> str | None:
        """End the session of ``token``; returns its username, or None if there was none."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            return None
        digest = _token_hash(token)
        with self._lock:
            row = self._db.execute(
                "SELECT username, client FROM sessions WHERE token_hash = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))
        self._log_event(SecurityEventType.LOGOUT, f"user={row[0]}; client={row[1]}")
        return str(row[0])

    def end_sessions(self, username: str) -> int:
        """End every session of ``username`` and forget the browsers it logged in from.

        For personal data deletion: a session holds a device's address and when it
        was used, a device token when it was last used. Returns the sessions ended.
        Failure counters stay: they expire within a day and hold back guessing.
        """
        with self._lock:
            self._db.execute("DELETE FROM devices WHERE username = ?", (username,))
            return self._db.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def csrf_token(self, token: str) -> str | None:
        """The CSRF token of the live session ``token``, or None."""
        if self.authenticate(token) is None:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT csrf FROM sessions WHERE token_hash = ?", (_token_hash(token),)
            ).fetchone()
        return None if row is None else str(row[0])

    def check_csrf(self, token: str, csrf: str) -> bool:
        """Whether ``csrf`` is the CSRF token of the live session ``token``."""
        expected = self.csrf_token(token)
        if expected is None or not isinstance(csrf, str):
            return False
        return hmac.compare_digest(expected.encode("utf-8"), csrf.encode("utf-8"))

    def change_password(
        self,
        username: str,
        old: str,
        new: str,
        *,
        current_token: str | None = None,
        client: str = "local",
        device: str | None = None,
    ) -> int:
        """Change the password after checking the old one; returns the sessions ended.

        Every session of the user ends except ``current_token`` (the caller's
        own). Raises :class:`WeakPassword` (checked first, nothing counted),
        :class:`LockedOut`, or :class:`InvalidCredentials` for a wrong old
        password, which counts towards the lockout like a failed login.
        """
        check_password(new, username)
        if hmac.compare_digest(old.encode("utf-8"), new.encode("utf-8")):
            raise WeakPassword("The new password must differ from the current one.")
        row, attempt = self._counted_check(
            username,
            old,
            client,
            device,
            f"password change with a wrong current password; user={{user}}; client={client}",
        )
        account = str(row[0])
        new_hash = self._hasher.hash(new)
        keep = _token_hash(current_token) if current_token else ""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE accounts SET password_hash = ?, password_changed_at = ?"
                    " WHERE username = ?",
                    (new_hash, self._clock.now().isoformat(), account),
                )
                ended = self._db.execute(
                    "DELETE FROM sessions WHERE username = ? AND token_hash != ?", (account, keep)
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._succeeded(attempt)
        self._log_event(
            SecurityEventType.PASSWORD_CHANGED,
            f"user={account}; client={client}; other sessions ended: {ended}",
        )
        return ended

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- internals --

    def _now_s(self) -> float:
        return self._clock.now().timestamp()

    @staticmethod
    def _user_key(username: str) -> str:
        return "user:" + username.casefold()[:_MAX_TOKEN_CHARS]

    @staticmethod
    def _client_key(client: str) -> str:
        return "client:" + (client or "unknown")[:_MAX_TOKEN_CHARS]

    def _attempt(self, username: str, client: str, device: str | None) -> _Attempt:
        """Which counters a login attempt answers to (see the module doc)."""
        known = self._known_device(username, device)
        if known is not None:
            return _Attempt(["device:" + known], None)
        pair = "pair:" + username.casefold()[:_MAX_TOKEN_CHARS] + "|" + client
        return _Attempt(
            [pair[: 2 * _MAX_TOKEN_CHARS], self._client_key(client)], self._user_key(username)
        )

    def _known_device(self, username: str, device: str | None) -> str | None:
        """The hash of ``device`` if it is a live device token of ``username``."""
        if not isinstance(device, str) or not device or len(device) > _MAX_TOKEN_CHARS:
            return None
        digest = _token_hash(device)
        with self._lock:
            row = self._db.execute(
                "SELECT last_used_s FROM devices WHERE token_hash = ? AND username = ?",
                (digest, username),
            ).fetchone()
        if row is None or self._now_s() - float(row[0]) >= DEVICE_MEMORY_S:
            return None
        return digest

    def _remember_device(self, username: str, device: str | None, now: float) -> str:
        """The device token this browser keeps: its own if known, else a new one."""
        token = device if self._known_device(username, device) is not None else None
        token = token or secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT OR REPLACE INTO devices (token_hash, username, last_used_s) VALUES (?, ?, ?)",
            (_token_hash(token), username, now),
        )
        self._db.execute(
            "DELETE FROM devices WHERE ? - last_used_s >= ? OR (username = ? AND token_hash"
            " NOT IN (SELECT token_hash FROM devices WHERE username = ?"
            " ORDER BY last_used_s DESC, rowid DESC LIMIT ?))",
            (now, DEVICE_MEMORY_S, username, username, MAX_DEVICES_PER_USER),
        )
        return token

    def _dummy(self) -> str:
        # A hash of a random secret with the live parameters, made once: checking
        # an unknown user costs the same as checking a known one.
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def _maybe_rehash(self, username: str, password_hash: str, password: str) -> None:
        # Parameters raised in a later release apply at the owner's next login.
        if self._hasher.check_needs_rehash(password_hash):
            self._db.execute(
                "UPDATE accounts SET password_hash = ? WHERE username = ?",
                (self._hasher.hash(password), username),
            )

    def _retry_after(self, attempt: _Attempt, now: float) -> float:
        """Seconds until the attempt may be checked (0: now)."""
        longest = 0.0
        for key in attempt.lockout_keys:
            row = self._db.execute(
                "SELECT locked_until_s FROM failures WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                # Capped: a wall clock set back must not lock anyone out for days.
                longest = max(longest, min(float(row[0]) - now, LOCKOUT_MAX_S))
        if attempt.slowdown_key is not None:
            row = self._db.execute(
                "SELECT count, last_failure_s FROM failures WHERE key = ?",
                (attempt.slowdown_key,),
            ).fetchone()
            if row is not None and int(row[0]) >= SLOWDOWN_AFTER:
                wait = min(float(row[1]) + SLOWDOWN_SPACING_S - now, SLOWDOWN_SPACING_S)
                longest = max(longest, wait)
        return longest

    def _count_for_slowdown(self, key: str | None, now: float) -> bool:
        """Count one unknown-device failure for the username; True if the slow-down starts."""
        if key is None:
            return False
        row = self._db.execute(
            "SELECT count, last_failure_s FROM failures WHERE key = ?", (key,)
        ).fetchone()
        count = 1
        if row is not None and now - float(row[1]) < FAILURE_MEMORY_S:
            count = int(row[0]) + 1
        self._db.execute(
            "INSERT OR REPLACE INTO failures (key, count, last_failure_s, locked_until_s)"
            " VALUES (?, ?, ?, 0)",
            (key, count, now),
        )
        return count == SLOWDOWN_AFTER

    def _succeeded(self, attempt: _Attempt) -> None:
        """Undo the failure counted in advance; the attempt's lockouts end."""
        self._clear_failures(attempt.lockout_keys)
        if attempt.slowdown_key is not None:
            # Only this attempt is taken back: the owner's success must not reopen
            # the door to someone guessing from many addresses.
            self._db.execute(
                "UPDATE failures SET count = max(count - 1, 0) WHERE key = ?",
                (attempt.slowdown_key,),
            )

    def _add_failure(self, keys: list[str], now: float) -> float:
        """Count one failure for each key; returns the lockout it started (0 if none)."""
        started = 0.0
        for key in keys:
            row = self._db.execute(
                "SELECT count, last_failure_s FROM failures WHERE key = ?", (key,)
            ).fetchone()
            count = 1
            if row is not None and now - float(row[1]) < FAILURE_MEMORY_S:
                count = int(row[0]) + 1
            duration = lockout_duration_s(count)
            self._db.execute(
                "INSERT OR REPLACE INTO failures (key, count, last_failure_s, locked_until_s)"
                " VALUES (?, ?, ?, ?)",
                (key, count, now, now + duration),
            )
            started = max(started, duration)
        return started

    def _clear_failures(self, keys: list[str]) -> None:
        self._db.executemany("DELETE FROM failures WHERE key = ?", [(k,) for k in keys])

    @staticmethod
    def _expired(created_s: float, last_seen_s: float, now: float) -> bool:
        return (
            now - created_s >= SESSION_ABSOLUTE_S
            or now - last_seen_s >= SESSION_IDLE_S
            or last_seen_s - now > _CLOCK_SKEW_S
        )

    def _new_session(self, username: str, client: str, now: float) -> SessionToken:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "DELETE FROM sessions WHERE ? - created_s >= ? OR ? - last_seen_s >= ?",
                (now, SESSION_ABSOLUTE_S, now, SESSION_IDLE_S),
            )
            self._db.execute(
                "INSERT INTO sessions (token_hash, username, csrf, created_s, last_seen_s,"
                " client) VALUES (?, ?, ?, ?, ?, ?)",
                (_token_hash(token), username, csrf, now, now, client),
            )
            # Oldest sessions beyond the cap end: a stolen-cookie spree stays bounded.
            self._db.execute(
                "DELETE FROM sessions WHERE username = ? AND token_hash NOT IN ("
                " SELECT token_hash FROM sessions WHERE username = ?"
                " ORDER BY created_s DESC, rowid DESC LIMIT ?)",
                (username, username, MAX_SESSIONS_PER_USER),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        expires = datetime.fromtimestamp(now + SESSION_ABSOLUTE_S, LONDON)
        return SessionToken(token=token, csrf=csrf, username=username, expires_at=expires)

    def _log_lockout(self, client: str, username: str | None, locked_for: float) -> None:
        who = f"user={username}; " if username else ""
        self._log_event(
            SecurityEventType.ACCOUNT_LOCKED_OUT,
            f"{who}client={client}; locked for {locked_for:.0f} s after repeated failures",
        )

    def _log_event(self, kind: SecurityEventType, info: str) -> None:
        if self._seclog is None:
            return
        try:
            self._seclog.record(kind, info)
        except sqlite3.Error:
            # A full disk must not lock the owner out of their charger.
            _log.exception("could not write %s to the security log", kind.ocpp_name)
