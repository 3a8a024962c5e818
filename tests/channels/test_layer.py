"""publish/subscribe on both backends: delivery, slow subscribers, replay, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from oakling.channels import ChannelLayer, ChannelMessage, Subscription
from tests.channels.conftest import redis_url, unique_prefix

pytestmark = pytest.mark.anyio


async def next_message(sub: Subscription) -> ChannelMessage:
    message = await asyncio.wait_for(sub.get(), 5)
    assert message is not None
    return message


async def test_every_subscriber_of_a_channel_gets_each_message_decoded(
    layer: ChannelLayer,
) -> None:
    async with layer.subscribe("room.a") as first, layer.subscribe("room.a") as second:
        async with layer.subscribe("room.b") as other:
            sent = await layer.publish("room.a", {"text": "hi", "n": [1, 2]})
            for sub in (first, second):
                message = await next_message(sub)
                assert (message.kind, message.id, message.data) == (
                    "message",
                    sent,
                    {"text": "hi", "n": [1, 2]},
                )
            # Another channel's subscriber never even queues it.
            assert other.pending == 0
            assert await other.get(timeout=0.1) is None
    assert layer.subscribers == 0


async def test_ids_increase_and_are_stream_ids(layer: ChannelLayer) -> None:
    ids = [await layer.publish("ids", n) for n in range(5)]
    pairs = [tuple(int(part) for part in value.split("-")) for value in ids]
    assert pairs == sorted(pairs) and len(set(pairs)) == 5


async def test_sync_code_publishes_from_a_worker_thread(layer: ChannelLayer) -> None:
    async with layer.subscribe("from-thread") as sub:
        sent = await asyncio.to_thread(layer.publish_sync, "from-thread", {"a": 1})
        message = await next_message(sub)
        assert (message.id, message.data) == (sent, {"a": 1})


async def test_a_slow_subscriber_is_dropped_and_holds_no_more_than_its_queue(
    layer: ChannelLayer,
) -> None:
    # max_queue is 5 in the fixture.
    async with layer.subscribe("busy") as stalled, layer.subscribe("busy") as reader:
        received = []
        for number in range(50):
            await layer.publish("busy", number)
            received.append((await next_message(reader)).data)
            assert stalled.pending <= 5  # never more than its bound
        assert received == list(range(50))  # the reader is not held back
        assert stalled.dropped
        assert [message.data async for message in stalled] == [0, 1, 2, 3, 4]
        assert layer.subscriber_count("busy") == 1


async def test_last_event_id_replays_what_was_missed_then_goes_live(
    layer: ChannelLayer,
) -> None:
    first = await layer.publish("feed", "one")
    await layer.publish("feed", "two")
    await layer.publish("feed", "three")
    async with layer.subscribe("feed", last_event_id=first) as sub:
        await layer.publish("feed", "four")
        got = [(await next_message(sub)).data for _ in range(3)]
        assert got == ["two", "three", "four"]
        assert await sub.get(timeout=0.1) is None  # no duplicate of "four"


async def test_a_replay_that_cannot_reach_back_starts_with_a_reset(
    layer: ChannelLayer,
) -> None:
    first = await layer.publish("long", 0)
    for number in range(1, 15):  # replay keeps 10 in the fixture
        await layer.publish("long", number)
    async with layer.subscribe("long", last_event_id=first) as sub:
        reset = await next_message(sub)
        assert reset.kind == "reset"
        assert await sub.get(timeout=0.1) is None  # then live only
        await layer.publish("long", "live")
        assert (await next_message(sub)).data == "live"


@pytest.mark.parametrize("forged", ["99999999999999-0", "not-an-id", "1-2-3", "9" * 60, "", "-1"])
async def test_a_forged_last_event_id_is_a_reset_and_hides_nothing(
    layer: ChannelLayer, forged: str
) -> None:
    await layer.publish("forged", "before")
    async with layer.subscribe("forged", last_event_id=forged) as sub:
        if forged:  # an empty id means "no id": nothing to reset
            assert (await next_message(sub)).kind == "reset"
        await layer.publish("forged", "after")
        message = await next_message(sub)
        assert (message.kind, message.data) == ("message", "after")


async def test_close_ends_every_subscription(layer: ChannelLayer) -> None:
    sub = layer.subscribe("bye")
    await sub.ready()
    waiting = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0.05)
    await layer.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 5)
    assert layer.subscribers == 0
    assert layer.subscribe("bye").pending == 0  # a late subscriber ends at once
    with pytest.raises(StopAsyncIteration):
        await anext(layer.subscribe("bye"))


@pytest.mark.parametrize("name", ["", "a b", "x" * 201, "tab\there", "nul\x00"])
async def test_bad_channel_names_are_refused(layer: ChannelLayer, name: str) -> None:
    with pytest.raises(ValueError, match="channel name"):
        await layer.publish(name, 1)
    with pytest.raises(ValueError, match="channel name"):
        layer.subscribe(name)


async def test_a_message_that_is_not_json_is_refused_before_sending(
    layer: ChannelLayer,
) -> None:
    with pytest.raises(TypeError):
        await layer.publish("x", object())


async def test_subscribe_before_start_names_the_plugin() -> None:
    with pytest.raises(RuntimeError, match="Channels"):
        ChannelLayer().subscribe("x")


# -- Redis only: many workers ------------------------------------------------------


async def test_two_workers_on_redis_hear_each_other() -> None:
    url, prefix = redis_url(), unique_prefix()
    worker_a, worker_b = ChannelLayer(url, prefix=prefix), ChannelLayer(url, prefix=prefix)
    await worker_a.start()
    await worker_b.start()
    try:
        async with worker_a.subscribe("shared") as on_a, worker_b.subscribe("shared") as on_b:
            sent = await worker_a.publish("shared", {"from": "a"})
            for sub in (on_a, on_b):
                message = await next_message(sub)
                assert (message.id, message.data) == (sent, {"from": "a"})
            # A reconnecting client replays from the other worker's buffer too.
            async with worker_b.subscribe("shared", last_event_id="0-1") as late:
                assert (await next_message(late)).kind == "reset"
            later = await worker_b.publish("shared", {"from": "b"})
            async with worker_a.subscribe("shared", last_event_id=sent) as resumed:
                message = await next_message(resumed)
                assert (message.id, message.data) == (later, {"from": "b"})
    finally:
        await worker_a.close()
        await worker_b.close()


async def test_a_worker_unsubscribes_from_redis_when_its_last_subscriber_leaves() -> None:
    import redis.asyncio

    url, prefix = redis_url(), unique_prefix()
    layer = ChannelLayer(url, prefix=prefix)
    await layer.start()
    client = redis.asyncio.Redis.from_url(url)
    name = f"{prefix}ch:transient"
    try:
        async with layer.subscribe("transient"):
            assert dict(await client.pubsub_numsub(name))[name.encode()] == 1
        for _ in range(100):
            if dict(await client.pubsub_numsub(name))[name.encode()] == 0:
                break
            await asyncio.sleep(0.01)
        assert dict(await client.pubsub_numsub(name))[name.encode()] == 0
        # The replay stream expires on its own (PEXPIRE on every publish).
        await layer.publish("transient", 1)
        assert 0 < await client.pttl(f"{prefix}log:transient") <= 3600 * 1000
    finally:
        await client.aclose()
        await layer.close()
