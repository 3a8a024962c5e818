"""Attacks on the rate limits: picking one's own bucket, spreading over addresses."""

from __future__ import annotations

import pytest
from ratelimit_support import peer_from_header

from oakling import App
from oakling.ratelimit import Limiter, network_of, ratelimit
from oakling.testing import TestClient


def _app() -> App:
    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    @ratelimit("3/minute")
    def x() -> str:
        return "x"

    return app


def _statuses(client: TestClient, times: int, headers: dict[str, str]) -> list[int]:
    return [client.get("/x", headers=headers).status_code for _ in range(times)]


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-For", "X-Real-IP", "Forwarded", "CF-Connecting-IP", "True-Client-IP"],
)
def test_spoofed_forwarding_header_does_not_reset_the_limit(header: str) -> None:
    """Without a trusted proxy, a client cannot pick a fresh bucket per request."""
    with TestClient(peer_from_header(_app())) as client:
        spoofed = [
            client.get(
                "/x",
                headers={
                    "X-Peer": "198.51.100.7",
                    header: f"for=203.0.113.{n}" if header == "Forwarded" else f"203.0.113.{n}",
                },
            ).status_code
            for n in range(6)
        ]
    assert spoofed == [200, 200, 200, 429, 429, 429]


def test_ipv6_addresses_in_one_64_share_a_bucket() -> None:
    with TestClient(peer_from_header(_app())) as client:
        spread = [
            client.get("/x", headers={"X-Peer": f"2001:db8:1:2::{n:x}"}).status_code
            for n in range(1, 6)
        ]
        # another /64 is another client
        other = client.get("/x", headers={"X-Peer": "2001:db8:1:3::1"}).status_code
    assert spread == [200, 200, 200, 429, 429]
    assert other == 200


def test_ipv6_spellings_of_one_address_share_a_bucket() -> None:
    spellings = ["2001:db8::1", "2001:DB8:0:0::1", "2001:0db8:0000:0000:0000:0000:0000:0001"]
    with TestClient(peer_from_header(_app())) as client:
        statuses = [client.get("/x", headers={"X-Peer": peer}).status_code for peer in spellings]
        statuses.append(client.get("/x", headers={"X-Peer": "2001:db8::ffff"}).status_code)
    assert statuses == [200, 200, 200, 429]


def test_ipv4_mapped_ipv6_counts_as_the_ipv4_address() -> None:
    with TestClient(peer_from_header(_app())) as client:
        statuses = [
            client.get("/x", headers={"X-Peer": peer}).status_code
            for peer in ["192.0.2.9", "::ffff:192.0.2.9", "192.0.2.9", "::ffff:c000:209"]
        ]
    assert statuses == [200, 200, 200, 429]


def test_network_of() -> None:
    assert network_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert network_of("192.0.2.1") == "192.0.2.1"
    assert network_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert network_of("testclient") == "testclient"


def test_forged_bearer_tokens_do_not_share_or_collide_with_addresses() -> None:
    """A token key is a digest: a token that looks like an address is not that address."""
    from oakling.ratelimit import user_or_ip

    app = App(debug=True, plugins=[Limiter()])

    @app.get("/x")
    @ratelimit("2/minute", key=user_or_ip)
    def x() -> str:
        return "x"

    with TestClient(peer_from_header(app)) as client:
        by_ip = [client.get("/x", headers={"X-Peer": "192.0.2.1"}).status_code for _ in range(2)]
        as_token = client.get(
            "/x", headers={"X-Peer": "192.0.2.1", "Authorization": "Bearer 192.0.2.1"}
        ).status_code
    assert by_ip == [200, 200]
    assert as_token == 200  # its own bucket, not the address's
