"""OAuth-protected deployments, end to end: a local issuer and `mcptasks serve --auth-*` processes."""
