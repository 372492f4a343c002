"""Who may act: API tokens (``Authorization: Bearer``) and logins (argon2/bcrypt hashes, cookie sessions).

Reading needs nothing. Actions need an operator: a configured token, or a login session whose CSRF token
comes with the request (``X-CSRF-Token`` header for the API, a hidden form field for pages). Session
cookies are HttpOnly and SameSite=Strict; sessions live in memory (a restart logs everyone out).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, status

from dicom_node.config import WebConfig

SESSION_COOKIE = "dicom_node_session"
SESSION_TTL_S = 8 * 3600
_HASHER = PasswordHasher()
# verified against when the user is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires_at: float


@dataclass(frozen=True)
class Operator:
    name: str  # login name, or "token"
    via: str  # "token" | "session"


def hash_password(password: str) -> str:
    """An argon2id hash for ``web.users`` in the configuration."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if stored_hash.startswith("$argon2"):
        try:
            return _HASHER.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
    try:
        import bcrypt  # optional: only for bcrypt hashes
    except ImportError:
        return False
    try:
        return bool(bcrypt.checkpw(password.encode("utf-8"), stored_hash.encode("ascii")))
    except ValueError:
        return False


class Authenticator:
    def __init__(self, config: WebConfig) -> None:
        self._tokens = [t.get_secret_value().encode("utf-8") for t in config.tokens]
        self._users = {name: secret.get_secret_value() for name, secret in config.users.items()}
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._tokens or self._users)

    @property
    def logins(self) -> bool:
        return bool(self._users)

    # -- tokens ---------------------------------------------------------------------------------
    def token_valid(self, token: str) -> bool:
        given = token.encode("utf-8")
        # compare with every token (no early exit) so timing does not tell which one nearly matched
        matches = [hmac.compare_digest(given, known) for known in self._tokens]
        return any(matches)

    # -- logins and sessions --------------------------------------------------------------------
    def login(self, user: str, password: str) -> str | None:
        """A new session id for valid credentials, else None."""
        stored = self._users.get(user)
        ok = verify_password(stored or _DUMMY_HASH, password) and stored is not None
        if not ok:
            return None
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
            self._sessions[session_id] = Session(user, secrets.token_urlsafe(24), now + SESSION_TTL_S)
        return session_id

    def logout(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def session(self, request: Request) -> Session | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        with self._lock:
            found = self._sessions.get(session_id)
        if found is None or found.expires_at < time.time():
            return None
        return found

    # -- checks ---------------------------------------------------------------------------------
    def api_operator(self, request: Request) -> Operator:
        """The operator behind an API request, or 401/403."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if header:
            if scheme.lower() == "bearer" and credentials and self.token_valid(credentials.strip()):
                return Operator("token", "token")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        session = self.session(request)
        if session is not None:
            csrf = request.headers.get("x-csrf-token", "")
            if hmac.compare_digest(csrf.encode(), session.csrf.encode()):
                return Operator(session.user, "session")
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token header")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this action needs a token or a login",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def form_operator(self, request: Request, csrf: str) -> Operator | None:
        """The logged-in operator behind a page form, or None (not logged in / bad CSRF field)."""
        session = self.session(request)
        if session is None or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            return None
        return Operator(session.user, "session")


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


def require_operator(request: Request) -> Operator:
    """FastAPI dependency for API actions."""
    return authenticator(request).api_operator(request)
