"""`server.logs`: credentials in the records of the SDK's loggers are redacted at every level."""

from __future__ import annotations

import logging
import secrets
import uuid

import pytest

from mcptasks.server.logs import REDACTED, install_redaction, redact_secret


@pytest.fixture(autouse=True)
def _installed() -> None:
    install_redaction()


def test_a_new_session_id_is_not_printed_as_the_sdk_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    session_id = uuid.uuid4().hex
    logger = logging.getLogger("mcp.server.streamable_http_manager")
    with caplog.at_level(logging.DEBUG):
        logger.info(f"Created new transport with session ID: {session_id}")
        logger.warning("Rejecting request for session %s: credential does not match", session_id)
        logger.debug("Session %s idle timeout", str(uuid.UUID(session_id)))
    assert session_id not in caplog.text and str(uuid.UUID(session_id)) not in caplog.text
    assert caplog.text.count(REDACTED) == 3
    assert "Created new transport with session ID: " + REDACTED in caplog.text


def test_tokens_and_secrets_are_redacted_in_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9." + secrets.token_urlsafe(40)
    opaque = "opq_" + secrets.token_urlsafe(24)
    client_secret = "rs-secret-" + secrets.token_hex(8)
    redact_secret(client_secret)
    logger = logging.getLogger("mcp.server.auth.middleware.bearer_auth")
    with caplog.at_level(logging.DEBUG):
        logger.warning("refused Authorization: Bearer %s", opaque)
        logger.info("token %s", jwt)
        logger.debug("form client_id=rs&client_secret=%s&token=%s", "plain-" + client_secret, opaque)
        try:
            raise RuntimeError(f"introspection failed for Bearer {opaque} with {client_secret}")
        except RuntimeError:
            logger.exception("call failed")
    for needle in (jwt, opaque, client_secret):
        assert needle not in caplog.text
    assert "Bearer " + REDACTED in caplog.text
    assert "RuntimeError" in caplog.text  # the traceback is kept, redacted


def test_a_logger_of_an_sdk_module_imported_later_is_filtered_too(caplog: pytest.LogCaptureFixture) -> None:
    session_id = uuid.uuid4().hex
    # Named in SDK_MODULE_LOGGERS: the filter is on it whether or not the module was imported.
    logger = logging.getLogger("mcp.server.sse")
    with caplog.at_level(logging.DEBUG):
        logger.debug(f"Created new session with ID: {session_id}")
    assert session_id not in caplog.text and REDACTED in caplog.text


def test_records_are_kept_and_other_text_is_untouched(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("mcp.server.runner")
    with caplog.at_level(logging.DEBUG):
        logger.debug("dropped %r: not defined at %s", "tasks/list", "2026-07-28")
    assert "dropped 'tasks/list': not defined at 2026-07-28" in caplog.text
