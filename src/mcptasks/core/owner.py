"""Who a task belongs to.

Spec: MCP 2025-11-25 tasks "Security Considerations" (bind tasks to the authorization context);
SEP-2663 "Security Implications" (authorize every task request; ids are unguessable). See DESIGN §3.

An `Owner` is computed once per request by the server layer and is a required argument of every
store read and write. A stdio server's caller is the local user who started it (`Owner.local_user`),
a principal keyed `local:<uid>`: every stdio server of that user on one database shares the tasks.
There is no "no owner": an anonymous caller without a session is the
`capability` owner, for whom the unguessable task id itself is the right to read the task.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

OwnerKind = Literal["principal", "session", "capability"]

#: The `issuer` recorded for the local user of a stdio server (`Owner.local_user`).
LOCAL_ISSUER = "local"


@dataclass(frozen=True, slots=True)
class Owner:
    """The owner of a task, or of the request that reads one.

    `key` is the one value the store matches on; the other fields are kept as plain columns so an
    operator can read them. Build owners with the class methods, not the constructor.
    """

    #: `principal` (OAuth), `session` (unauthenticated, one session) or `capability` (anonymous,
    #: no session: the task id is the capability).
    kind: OwnerKind
    #: Canonical matching key, e.g. `session:3f2a…`, `principal:["iss","sub","client"]` or `local:1000`.
    key: str
    #: OAuth issuer (`iss`) for principals (`LOCAL_ISSUER` for the local user), else None.
    issuer: str | None = None
    #: OAuth subject (`sub`, or the client id for client-credentials tokens), the local user's
    #: login name, else None.
    subject: str | None = None
    #: OAuth client id the token was issued to, else None.
    client_id: str | None = None

    @classmethod
    def principal(cls, issuer: str, subject: str, client_id: str | None, *, per_client: bool = True) -> Owner:
        """An authenticated principal: `(issuer, subject, client_id)`, or `(issuer, subject)`.

        `per_client=False` is the `--owner-scope user` policy: one person's tasks follow them across
        MCP client apps. `client_id` is still recorded for operators either way.
        """
        parts: list[str | None] = [issuer, subject, client_id] if per_client else [issuer, subject]
        key = "principal:" + json.dumps(parts, separators=(",", ":"))
        return cls("principal", key, issuer=issuer, subject=subject, client_id=client_id)

    @classmethod
    def local_user(cls, uid: int | str, name: str | None = None) -> Owner:
        """The local user a stdio server runs as: a principal keyed `local:<uid>`.

        A stdio server is started by its client, as that user, on that user's machine: whoever can
        speak to it could open the database file anyway, so its tasks belong to the user (shared
        by every stdio server the user starts on one database, across restarts), not to one
        connection. `name` (the login name) is recorded as the subject for operators; it is not
        part of the key, which stays the same if the user is renamed. No OAuth key starts with
        `local:`.
        """
        return cls("principal", f"local:{uid}", issuer=LOCAL_ISSUER, subject=name or str(uid))

    @property
    def is_local_user(self) -> bool:
        """Whether this is the local user of a stdio server (`local_user`)."""
        return self.key.startswith("local:")

    @classmethod
    def session(cls, session_id: str) -> Owner:
        """An unauthenticated session (stateful HTTP, stdio).

        Only a SHA-256 digest of the session id is kept: on unauthenticated HTTP the session id is
        what lets a client speak in that session, so it must not sit readable in the database.
        """
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:32]
        return cls("session", f"session:{digest}")

    @classmethod
    def capability(cls) -> Owner:
        """An anonymous caller with no session (2026-07-28 stateless HTTP)."""
        return cls("capability", "capability")

    def may_see(self, owner_kind: OwnerKind, owner_key: str) -> bool:
        """Whether this owner may read or change a task owned by (`owner_kind`, `owner_key`).

        The caller's own tasks; and a capability task (created without a session or a token) when
        the caller is anonymous too: its unguessable id is the right to read it. An OAuth principal
        never sees capability tasks. `store.queries.visible_to` is the same rule in SQL.
        """
        if owner_key == self.key:
            return True
        return owner_kind == "capability" and self.kind != "principal"

    @property
    def can_list(self) -> bool:
        """Whether this owner may enumerate its tasks (`tasks/list`); capability owners may not."""
        return self.kind != "capability"

    def __repr__(self) -> str:
        return f"Owner({self.key!r})"
