"""A real, local OAuth authorization server for the tests: JWKS, RFC 7662 introspection, token minting.

`LocalIssuer` is a small `http.server` on 127.0.0.1 (port 0) in a thread:

- `GET /jwks` (and `/jwks/<label>`, the same keys, counted apart per server): the published
  signing keys (made in the test, RSA 2048); `add_key()` publishes a new `kid` at runtime (key
  rotation); every fetch is recorded with its time (`jwks_fetches()`, `last_jwks_fetch()`);
  `jwks_delay_s[label]` makes one label's answers slow.
- `POST /introspect`: RFC 7662. The caller must authenticate with HTTP Basic client credentials
  (`INTROSPECTION_CLIENT_ID`/`INTROSPECTION_CLIENT_SECRET`), else 401 `invalid_client`; the answer
  for a token is whatever the test put in `introspection` (token -> response), else
  `{"active": false}`.

Tokens: `mint()` signs an RFC 9068 JWT access token (`typ: at+jwt`) for a user (alice, bob) and an
OAuth client (c1, c2), with every claim overridable or removable; `forge()` builds a compact JWS by
hand (any header, any algorithm, any signature) for the attacks `joserfc` refuses to produce;
`opaque()` makes a random opaque token and registers its introspection answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt
from joserfc.jwk import RSAKey

USERS = ("alice", "bob")
CLIENTS = ("c1", "c2")
#: Scopes the tokens carry unless a test says otherwise.
DEFAULT_SCOPE = "tasks:read tasks:write"
#: The MCP server's own credentials at this issuer (for the introspection call).
INTROSPECTION_CLIENT_ID = "mcptasks-rs"
INTROSPECTION_CLIENT_SECRET = "rs-secret-" + "7f3c9a1e5b2d4c6f8a0b"
#: How long minted tokens live unless a test says otherwise, in seconds.
TOKEN_LIFETIME_S = 600

#: Marker for `mint(..., drop=...)` / `claims` values: remove the claim.
DROP = object()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def new_key(kid: str) -> RSAKey:
    """A fresh RSA signing key with `kid`, `use: sig`, `alg: RS256`."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class LocalIssuer:
    """The authorization server of the tests (see module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.keys: dict[str, RSAKey] = {}
        #: Kids served by /jwks, in order.
        self.published: list[str] = []
        #: Extra JWKS entries served as-is (e.g. an encryption key).
        self.extra_jwks: list[dict[str, Any]] = []
        #: `time.monotonic()` of every GET of a JWKS, by label (`/jwks/<label>`; "" for `/jwks`).
        self.jwks_fetch_times: dict[str, list[float]] = {}
        #: Seconds a GET of `/jwks/<label>` takes before it answers (a slow issuer), by label.
        self.jwks_delay_s: dict[str, float] = {}
        #: token -> the RFC 7662 answer for it.
        self.introspection: dict[str, dict[str, Any]] = {}
        #: Every POST /introspect: (client id it authenticated as or None, token asked about).
        self.introspection_calls: list[tuple[str | None, str]] = []
        #: Every token made here (minted, forged, opaque), for the secrets-at-rest checks.
        self.issued: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        #: The issuer identifier (`iss`), exactly.
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.jwks_uri = f"{self.issuer}/jwks"
        self.introspection_url = f"{self.issuer}/introspect"
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-issuer", daemon=True)
        self.add_key("k1")

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- keys ---------------------------------------------------------------------------------------

    def add_key(self, kid: str, *, publish: bool = True) -> RSAKey:
        """Make a signing key `kid`; publish it in the JWKS unless `publish` is False."""
        key = new_key(kid)
        with self._lock:
            self.keys[kid] = key
            if publish:
                self.published.append(kid)
        return key

    def publish(self, kid: str) -> None:
        with self._lock:
            if kid not in self.published:
                self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = [self.keys[kid].as_dict(private=False) for kid in self.published]
            return {"keys": keys + list(self.extra_jwks)}

    def jwks_uri_for(self, label: str) -> str:
        """A JWKS URL of its own (same keys) for one server, so its fetches are counted apart."""
        return f"{self.jwks_uri}/{label}"

    def jwks_fetches(self, label: str = "") -> int:
        with self._lock:
            return len(self.jwks_fetch_times.get(label, []))

    def last_jwks_fetch(self, label: str = "") -> float | None:
        with self._lock:
            times = self.jwks_fetch_times.get(label, [])
            return times[-1] if times else None

    # -- tokens -------------------------------------------------------------------------------------

    def claims(
        self, user: str, client: str, resource: str, *, scope: str = DEFAULT_SCOPE, **overrides: Any
    ) -> dict[str, Any]:
        """RFC 9068 claims for `user` through `client`, for `resource`; `overrides` win (DROP removes)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user,
            "aud": resource,
            "client_id": client,
            "scope": scope,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
            "jti": secrets.token_hex(12),
        }
        for name, value in overrides.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(
        self,
        user: str,
        client: str,
        resource: str,
        *,
        kid: str = "k1",
        typ: str = "at+jwt",
        scope: str = DEFAULT_SCOPE,
        **overrides: Any,
    ) -> str:
        """A signed RS256 JWT access token (joserfc)."""
        header = {"alg": "RS256", "kid": kid, "typ": typ}
        token = jwt.encode(
            header, self.claims(user, client, resource, scope=scope, **overrides), self.keys[kid]
        )
        return self._issued(token)

    def _issued(self, token: str) -> str:
        with self._lock:
            self.issued.append(token)
        return token

    def forge(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], *, key: RSAKey | None = None
    ) -> str:
        """A compact JWS built by hand: RS256-signed with `key` (default k1) whatever `header` says."""
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}".encode()
        signer = (key or self.keys["k1"]).private_key
        assert signer is not None
        signature = signer.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
        return self._issued(f"{signing_input.decode()}.{b64url(signature)}")

    def forge_unsigned(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], signature: str = ""
    ) -> str:
        """`header.claims.signature` with a literal signature segment (empty for `alg: none`)."""
        return self._issued(f"{b64url_json(header)}.{b64url_json(claims)}.{signature}")

    def forge_hs256_with_public_key(self, claims: Mapping[str, Any], kid: str = "k1") -> str:
        """The algorithm-confusion attack: HS256 whose HMAC secret is the RSA public key's PEM bytes."""
        header = {"alg": "HS256", "kid": kid, "typ": "at+jwt"}
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}".encode()
        secret = self.keys[kid].as_pem(private=False)
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
        return self._issued(f"{signing_input.decode()}.{b64url(signature)}")

    def opaque(self, answer: Mapping[str, Any] | None = None) -> str:
        """A random opaque token whose introspection answer is `answer` (default: not registered)."""
        token = "opq_" + secrets.token_urlsafe(24)
        if answer is not None:
            self.introspection[token] = dict(answer)
        return self._issued(token)

    def active(
        self, user: str, client: str, resource: str, *, scope: str = DEFAULT_SCOPE, **overrides: Any
    ) -> dict[str, Any]:
        """An RFC 7662 `active: true` answer for `user` through `client`; `overrides` win (DROP removes)."""
        answer = {"active": True, "token_type": "Bearer", **self.claims(user, client, resource, scope=scope)}
        for name, value in overrides.items():
            if value is DROP:
                answer.pop(name, None)
            else:
                answer[name] = value
        return answer

    # -- HTTP ---------------------------------------------------------------------------------------

    def _authenticated_client(self, header: str | None) -> str | None:
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        if hmac.compare_digest(user, INTROSPECTION_CLIENT_ID) and hmac.compare_digest(
            password, INTROSPECTION_CLIENT_SECRET
        ):
            return user
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(
                self, status: int, body: Mapping[str, Any], headers: Iterable[tuple[str, str]] = ()
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != "/jwks" and not self.path.startswith("/jwks/"):
                    self._send(404, {"error": "not_found"})
                    return
                label = self.path[len("/jwks/") :] if self.path.startswith("/jwks/") else ""
                with issuer._lock:
                    issuer.jwks_fetch_times.setdefault(label, []).append(time.monotonic())
                    delay_s = issuer.jwks_delay_s.get(label, 0.0)
                if delay_s:
                    time.sleep(delay_s)  # this request's own thread (ThreadingHTTPServer)
                self._send(200, issuer.jwks())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode()
                if self.path != "/introspect":
                    self._send(404, {"error": "not_found"})
                    return
                token = (parse_qs(form).get("token") or [""])[0]
                client = issuer._authenticated_client(self.headers.get("Authorization"))
                with issuer._lock:
                    issuer.introspection_calls.append((client, token))
                if client is None:
                    self._send(
                        401, {"error": "invalid_client"}, [("WWW-Authenticate", 'Basic realm="issuer"')]
                    )
                    return
                self._send(200, issuer.introspection.get(token, {"active": False}))

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
