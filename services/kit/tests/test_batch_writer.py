"""kit.batch_writer: requests per key in batches, one batch per key at a time, every caller
answered (no infrastructure: the writer here records what it was given)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from kit import tracing
from kit.batch_writer import BatchWriter, Submitted, WriterStopped
from kit.context import correlation_id
from kit.events import new_event


class Recorder:
    """A writer that answers each request with `key:request`, or the error for 'bad', and
    records its batches and how many of one key ran at once."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.running: dict[str, int] = {}
        self.most_at_once = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, key: str, batch: list[Submitted[str]]) -> list[str | BaseException]:
        requests = [s.request for s in batch]
        self.running[key] = self.running.get(key, 0) + 1
        self.most_at_once = max(self.most_at_once, self.running[key])
        try:
            self.batches.append((key, list(requests)))
            await self.gate.wait()
            await asyncio.sleep(0)
            return [ValueError(r) if r == "bad" else f"{key}:{r}" for r in requests]
        finally:
            self.running[key] -= 1


async def test_a_lone_request_is_written_at_once() -> None:
    recorder = Recorder()
    writer = BatchWriter(recorder.write, batch=10, name="test")
    assert await writer.submit("a", "1") == "a:1"
    assert recorder.batches == [("a", ["1"])]


async def test_requests_arriving_meanwhile_share_the_next_batch_in_order() -> None:
    recorder = Recorder()
    writer = BatchWriter(recorder.write, batch=3, name="test")
    recorder.gate.clear()
    first = asyncio.create_task(writer.submit("a", "0"))
    await asyncio.sleep(0.01)  # the first batch is being written
    rest = [asyncio.create_task(writer.submit("a", str(i))) for i in range(1, 8)]
    other = asyncio.create_task(writer.submit("b", "x"))
    await asyncio.sleep(0.01)
    recorder.gate.set()
    assert await first == "a:0"
    assert [await t for t in rest] == [f"a:{i}" for i in range(1, 8)]
    assert await other == "b:x"
    of_a = [requests for key, requests in recorder.batches if key == "a"]
    assert of_a == [["0"], ["1", "2", "3"], ["4", "5", "6"], ["7"]]
    assert recorder.most_at_once == 1  # one batch of a key at a time
    assert ("b", ["x"]) in recorder.batches  # other keys do not wait for a's


async def test_each_caller_gets_its_own_answer_or_error() -> None:
    recorder = Recorder()
    writer = BatchWriter(recorder.write, batch=5, name="test")
    recorder.gate.clear()
    tasks = [asyncio.create_task(writer.submit("a", r)) for r in ("1", "bad", "2")]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "a:1" and results[2] == "a:2"
    assert isinstance(results[1], ValueError)


async def test_a_failed_batch_fails_every_caller_of_it_and_the_next_is_written() -> None:
    calls: list[list[int]] = []

    async def write(key: str, batch: list[Submitted[int]]) -> list[int | BaseException]:
        calls.append([s.request for s in batch])
        if len(calls) == 1:
            raise ConnectionError("store gone")
        return calls[-1]

    writer = BatchWriter(write, batch=2, name="test")
    tasks = [asyncio.create_task(writer.submit("k", i)) for i in range(3)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert calls == [[0, 1], [2]]
    assert [type(r) for r in results[:2]] == [ConnectionError, ConnectionError]
    assert results[2] == 2


async def test_a_writer_answering_too_few_fails_the_batch() -> None:
    async def write(key: str, batch: list[Submitted[int]]) -> list[int | BaseException]:
        return [s.request for s in batch[:1]]

    writer = BatchWriter(write, batch=5, name="short")
    tasks = [asyncio.create_task(writer.submit("k", i)) for i in range(2)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "answered 1 of 2" in str(r) for r in results)


async def test_a_cancelled_batch_tells_its_callers_and_those_waiting() -> None:
    recorder = Recorder()
    writer = BatchWriter(recorder.write, batch=1, name="test")
    recorder.gate.clear()
    tasks = [asyncio.create_task(writer.submit("a", str(i))) for i in range(3)]
    await asyncio.sleep(0.01)
    worker = next(t for t in asyncio.all_tasks() if t.get_name() == "test")
    worker.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, WriterStopped) for r in results)
    recorder.gate.set()
    assert await writer.submit("a", "again") == "a:again"  # a new batch, a new task


def test_a_batch_holds_at_least_one_request() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BatchWriter(Recorder().write, batch=0, name="test")


async def test_each_request_is_made_in_its_own_context_the_batch_in_its_first() -> None:
    """A batch of requests from different chains: what the writer makes for a request (its
    events) carries that request's correlation id, not the first one's; the batch's own
    work runs in its first request's context, and a later batch in its own first's."""
    seen: list[tuple[str | None, list[str]]] = []
    gate = asyncio.Event()

    async def write(key: str, batch: list[Submitted[str]]) -> list[str | BaseException]:
        await gate.wait()
        made = [s.run(new_event, **ABOUT).correlationid for s in batch]
        seen.append((correlation_id.get(), made))
        return made

    writer = BatchWriter(write, batch=10, name="ctx")

    async def request(correlation: str) -> str:
        correlation_id.set(correlation)
        return await writer.submit("k", correlation)

    first = asyncio.create_task(request("c0"))
    await asyncio.sleep(0.01)  # c0's batch is waiting at the gate
    rest = [asyncio.create_task(request(f"c{i}")) for i in range(1, 5)]
    await asyncio.sleep(0.01)
    gate.set()
    assert [await first, *[await t for t in rest]] == ["c0", "c1", "c2", "c3", "c4"]
    assert seen == [("c0", ["c0"]), ("c1", ["c1", "c2", "c3", "c4"])]
    assert correlation_id.get() is None  # nothing leaked into the test's own context


async def test_each_request_continues_its_own_trace(recorded: None) -> None:
    """With tracing on, each request's event carries its own span as traceparent."""
    tracer = tracing.tracer()
    made: dict[str, str | None] = {}

    async def write(key: str, batch: list[Submitted[str]]) -> list[str | BaseException]:
        for s in batch:
            made[s.request] = s.run(new_event, **ABOUT).traceparent
        return [s.request for s in batch]

    writer = BatchWriter(write, batch=10, name="trace")
    parents: dict[str, str | None] = {}

    async def request(name: str) -> str:
        with tracer.start_as_current_span(name):
            parents[name], _ = tracing.current_traceparent()
            return await writer.submit("k", name)

    await asyncio.gather(*(request(f"r{i}") for i in range(4)))
    assert len(set(parents.values())) == 4 and None not in parents.values()
    assert made == parents


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "enabled", True)


class Tick(BaseModel):
    n: int = 0


ABOUT: dict[str, Any] = {
    "service": "kit",
    "type_": "kohtaamo.kit.tick.v1",
    "data": Tick(),
    "municipality": "helsinki",
}
