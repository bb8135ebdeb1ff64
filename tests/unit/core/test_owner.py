"""Owners: the one key the store matches on, per kind (DESIGN §3)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from mcptasks.core.owner import Owner


class TestPrincipal:
    def test_per_client_key_includes_the_client(self) -> None:
        owner = Owner.principal("https://iss", "alice", "app-1")
        assert owner.kind == "principal"
        assert owner.key == 'principal:["https://iss","alice","app-1"]'
        assert (owner.issuer, owner.subject, owner.client_id) == ("https://iss", "alice", "app-1")

    def test_per_client_separates_client_apps(self) -> None:
        assert Owner.principal("iss", "alice", "app-1").key != Owner.principal("iss", "alice", "app-2").key

    def test_user_scope_follows_the_user_across_clients(self) -> None:
        one = Owner.principal("iss", "alice", "app-1", per_client=False)
        two = Owner.principal("iss", "alice", "app-2", per_client=False)
        assert one.key == two.key == 'principal:["iss","alice"]'
        # The client id is still recorded for operators.
        assert (one.client_id, two.client_id) == ("app-1", "app-2")

    def test_user_scope_still_separates_users_and_issuers(self) -> None:
        base = Owner.principal("iss", "alice", None, per_client=False)
        assert base.key != Owner.principal("iss", "bob", None, per_client=False).key
        assert base.key != Owner.principal("other-iss", "alice", None, per_client=False).key

    def test_key_is_json_so_separators_in_values_cannot_collide(self) -> None:
        one = Owner.principal("a", "b,c", "d")
        two = Owner.principal("a,b", "c", "d")
        assert one.key != two.key
        assert json.loads(one.key.removeprefix("principal:")) == ["a", "b,c", "d"]

    def test_missing_client_id_is_null_in_the_key(self) -> None:
        assert Owner.principal("iss", "svc", None).key == 'principal:["iss","svc",null]'

    def test_can_list(self) -> None:
        assert Owner.principal("iss", "alice", "app").can_list


class TestSession:
    def test_key_is_a_sha256_prefix_of_the_session_id(self) -> None:
        owner = Owner.session("abc-session-123")
        digest = hashlib.sha256(b"abc-session-123").hexdigest()[:32]
        assert owner.kind == "session"
        assert owner.key == f"session:{digest}"
        assert re.fullmatch(r"session:[0-9a-f]{32}", owner.key)

    @pytest.mark.parametrize("session_id", ["abc-session-123", "Zq9-xY", "0123456789abcdef0123456789abcdef"])
    def test_key_and_repr_never_contain_the_session_id(self, session_id: str) -> None:
        owner = Owner.session(session_id)
        assert session_id not in owner.key
        assert session_id not in repr(owner)
        assert owner.issuer is owner.subject is owner.client_id is None

    def test_same_id_same_key_other_id_other_key(self) -> None:
        assert Owner.session("one").key == Owner.session("one").key
        assert Owner.session("one").key != Owner.session("two").key

    def test_can_list(self) -> None:
        assert Owner.session("one").can_list


class TestCapability:
    def test_shape(self) -> None:
        owner = Owner.capability()
        assert (owner.kind, owner.key) == ("capability", "capability")
        assert owner == Owner.capability()

    def test_cannot_list(self) -> None:
        assert not Owner.capability().can_list


class TestLocalUser:
    def test_a_principal_keyed_by_the_uid_with_the_name_recorded(self) -> None:
        owner = Owner.local_user(1000, "alice")
        assert (owner.kind, owner.key) == ("principal", "local:1000")
        assert (owner.issuer, owner.subject, owner.client_id) == ("local", "alice", None)
        assert owner.is_local_user and owner.can_list

    def test_the_name_is_not_part_of_the_key(self) -> None:
        assert Owner.local_user(1000, "alice").key == Owner.local_user(1000, "alice-renamed").key
        assert Owner.local_user(1000, "alice").key != Owner.local_user(1001, "alice").key

    def test_it_does_not_read_capability_tasks(self) -> None:
        assert not Owner.local_user(1000, "alice").may_see("capability", "capability")


def test_kinds_never_share_a_key() -> None:
    keys = {
        Owner.capability().key,
        Owner.session("capability").key,
        Owner.principal("capability", "capability", "capability").key,
        Owner.local_user("capability").key,
    }
    assert len(keys) == 4
    assert not Owner.principal("local", "1000", None).is_local_user


def test_owners_are_frozen() -> None:
    owner = Owner.session("one")
    with pytest.raises(AttributeError):
        owner.key = "session:other"  # type: ignore[misc]
