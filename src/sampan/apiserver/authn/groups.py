"""Well-known users and groups authentication hands out (upstream's ``user`` package constants)."""

from __future__ import annotations

AUTHENTICATED = "system:authenticated"
"""Added to every user an authenticator (other than anonymous) recognised."""
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS_USER = "system:anonymous"
MASTERS = "system:masters"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
BOOTSTRAPPERS = "system:bootstrappers"
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"
NODES = "system:nodes"
