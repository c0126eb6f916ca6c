"""A three-node RabbitMQ cluster of this run's own (other ports; the shared broker is not
touched): the services' quorum queues have a member on every node; the node that leads
the consumer's queue, and that the consumer is connected to, is killed outright during a
stream of events and brought back. Nothing is lost, nothing is applied twice, and the
services reconnect by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from faultapp import TICK, Tick, build_consumer

from kit.app import Service
from kit.rabbit_env import PrivateCluster
from kit.testing import eventually

N = 150  # events in the stream: before, while the node is down, and after it is back
QUEUE = "kohtaamo.faultcons.ticks"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCluster]:
    nodes = PrivateCluster(tmp_path_factory.mktemp("cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


def queue_members(cluster: PrivateCluster, queue: str, via: int = 0) -> tuple[str, list[str]]:
    """The quorum queue's leader and members, as the cluster reports them."""
    node = cluster.nodes[via]
    out = subprocess.run(
        [
            node._bin("rabbitmqctl"),
            "-n",
            node.node,
            "-q",
            "list_queues",
            "--no-table-headers",
            "name",
            "type",
            "leader",
            "members",
        ],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for line in out.splitlines():
        name, kind, leader, members = line.split("\t")
        if name == queue:
            assert kind == "quorum"
            return leader, [m.strip(" []'\"") for m in members.split(",")]
    raise AssertionError(f"{queue} not found: {out}")


async def test_a_killed_node_loses_nothing_and_services_reconnect(
    cluster: PrivateCluster, make_settings: Callable[..., Any]
) -> None:
    entry, lead = cluster.nodes[0], cluster.nodes[1]
    producer = Service("faultprod", settings=make_settings("faultprod", amqp_url=entry.url))
    # The consumer declares its queue through node 1, so node 1 leads it.
    consumer = build_consumer(make_settings("faultcons", amqp_url=lead.url))
    await consumer.start()
    await producer.start()
    applied = consumer.store.db.applied
    leader, members = queue_members(cluster, QUEUE)
    assert sorted(members) == sorted(n.node for n in cluster.nodes)  # a member on every node
    assert leader == lead.node

    sent = 0

    async def stream() -> None:
        nonlocal sent
        for i in range(N):
            event = producer.event(TICK, Tick(n=i), municipality="helsinki")
            async with producer.uow() as uow:
                await uow.db.state.insert_one({"n": i}, session=uow.session)
                await uow.emit(event)
            sent = i + 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(stream())
    try:
        await eventually(lambda: _at_least(applied, N // 4), timeout=45)
        await asyncio.to_thread(lead.kill)  # leader and the consumer's node, no warning
        # The stream goes on through node 0 while node 1 is gone: the queue elects a new
        # leader among the two left and keeps taking messages.
        mark = sent
        await eventually(lambda: _sent_beyond(lambda: sent, mark + 20), timeout=45)
        new_leader, _ = queue_members(cluster, QUEUE, via=0)
        assert new_leader != lead.node
        await asyncio.to_thread(cluster.restart, 1)
        await task

        await eventually(lambda: _at_least(applied, N), timeout=90)
        await asyncio.sleep(1)  # anything applied twice would show now
        assert await applied.count_documents({}) == N
        assert sorted(await applied.distinct("n")) == list(range(N))
        assert (await producer.outbox.lag())["pending"] == 0

        async def reconnected() -> bool:
            checks = await consumer.consumer_health()
            return all(c["ok"] for c in checks.values())

        await eventually(reconnected, timeout=45)  # by itself: nobody restarted it
        assert cluster.running_nodes() == {n.node for n in cluster.nodes}
    finally:
        task.cancel()
        # Bounded: a failure above must not leave services reconnecting to dead nodes.
        for service in (producer, consumer):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(service.stop(), 30)


async def _at_least(collection: Any, n: int) -> bool:
    return await collection.count_documents({}) >= n


async def _sent_beyond(current: Callable[[], int], n: int) -> bool:
    return current() >= min(n, N)
