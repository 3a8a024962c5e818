"""Helpers of the rate-limit tests: a private redis-server, a settable client address."""

from __future__ import annotations

from tests.conftest import PrivateRedis, peer_from_header

__all__ = ["PrivateRedis", "peer_from_header"]
