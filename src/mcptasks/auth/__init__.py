"""OAuth resource-server side: verifying access tokens and naming the principal they speak for.

This package is the architecture, not the API. JWT access tokens are verified with joserfc against
the issuer's JWKS (`verifier.py`, `jwks.py`); opaque tokens through RFC 7662 introspection with
authlib's async OAuth client (`introspection.py`). Both produce a `VerifiedToken`; the server layer
turns it into the SDK's `AccessToken`. Nothing here imports `mcp`.
"""
