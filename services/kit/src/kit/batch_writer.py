"""Concurrent requests of one process written in batches, one batch per key at a time.

Requests that arrive while a key's batch is being written wait for the next one; each
batch is one call of the writer (one transaction, as the writer makes it), which answers
every request of the batch, in order, with its result or its exception. A lone request is
written at once, without waiting. Batching only saves round trips under load: the
guarantees are the writer's transaction's (another replica's batch touching the same
documents conflicts and retries). Used by bookings' desk (requests per lane of resources)
and events' registrar (sign-ups per event).

Each request keeps the context it was submitted in (its correlation id, the message it
answers, its trace span): the writer makes each request's events in that context
(`submitted.run(svc.event, ...)`), so they continue the request's own chain and trace, not
the chain of whichever request started the batch. The batch's own work (its store
commands, its log lines) runs in the context of its first request."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("kit.batch_writer")

Key = TypeVar("Key", bound=Hashable)
Request = TypeVar("Request")
Result = TypeVar("Result")
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Submitted(Generic[Request]):
    """A request and a copy of the context it was submitted in."""

    request: Request
    context: contextvars.Context

    def run(self, make: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`make(*args, **kwargs)` in the request's context (its events: `svc.event`)."""
        return self.context.run(make, *args, **kwargs)


Pending = list[tuple[Submitted[Request], "asyncio.Future[Result]"]]


class WriterStopped(RuntimeError):
    """The batch's task was cancelled (the process is stopping) before it was written."""


class BatchWriter(Generic[Key, Request, Result]):
    def __init__(
        self,
        write: Callable[
            [Key, list[Submitted[Request]]], Awaitable[Sequence[Result | BaseException]]
        ],
        *,
        batch: int,
        name: str,
    ) -> None:
        """`write(key, requests)` writes one batch and answers each request in order; an
        exception it raises is every request's answer. At most `batch` requests a call."""
        if batch < 1:
            raise ValueError("a batch holds at least one request")
        self._write = write
        self.batch = batch
        self.name = name
        self._pending: dict[Key, Pending[Request, Result]] = {}
        self._workers: dict[Key, asyncio.Task[None]] = {}

    async def submit(self, key: Key, request: Request) -> Result:
        """The request's result, or raises its exception, once its batch is written."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        submitted = Submitted(request, contextvars.copy_context())
        self._pending.setdefault(key, []).append((submitted, future))
        if key not in self._workers:
            # In an empty context: the worker outlives the request that started it.
            self._workers[key] = asyncio.create_task(
                self._drain(key), name=self.name, context=contextvars.Context()
            )
        return await future

    async def _drain(self, key: Key) -> None:
        batch: Pending[Request, Result] = []
        try:
            while queue := self._pending.get(key):
                batch, queue[:] = queue[: self.batch], queue[self.batch :]
                # The batch's work in (a copy of) its first request's context; a context
                # is entered by one task at a time, and the writer enters each request's.
                results = await asyncio.create_task(
                    self._answers(key, batch),
                    name=f"{self.name}-batch",
                    context=batch[0][0].context.copy(),
                )
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue  # the caller went away
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        finally:
            # Only a cancelled task leaves requests behind: their callers hear why.
            for _, future in [*batch, *self._pending.pop(key, [])]:
                if not future.done():
                    future.set_exception(WriterStopped(f"{self.name} stopped"))
            self._workers.pop(key, None)

    async def _answers(
        self, key: Key, batch: Pending[Request, Result]
    ) -> Sequence[Result | BaseException]:
        try:
            results = await self._write(key, [submitted for submitted, _ in batch])
        except Exception as exc:  # the whole batch failed: every caller hears why
            log.warning("batch_writer.failed", writer=self.name, size=len(batch), error=str(exc))
            return [exc] * len(batch)
        if len(results) != len(batch):
            error = RuntimeError(f"{self.name} answered {len(results)} of {len(batch)}")
            return [error] * len(batch)
        return results
