"""AsyncAPI documents generated from the code with FastStream: what a service publishes
(every contract type it produces, on its exchange) and what it consumes (each queue with
the envelopes bound to it). Built on a spec-only broker that is never connected, because
the running broker's handlers take raw bytes (the kit parses envelopes itself)."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Union

from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, create_model

from contracts import CloudEvent, model_for, topology
from contracts.catalog import published_types
from kit.bus import consumer_queue, topic_exchange

if TYPE_CHECKING:
    from kit.web import WebService


@cache
def envelope_model(type_: str) -> type[BaseModel]:
    """The CloudEvents envelope with `type` fixed and `data` typed by the contract."""
    data = model_for(type_) or dict[str, Any]
    name = (data.__name__ if isinstance(data, type) else "Data") + "Event"
    fixed: Any = Literal[type_]  # a literal made at run time, from the contract's type
    return create_model(
        name,
        __base__=CloudEvent,
        __doc__=(getattr(data, "__doc__", None) or f"Envelope of {type_}").strip(),
        type=(fixed, type_),
        data=(data, ...),
    )


def specification(service: WebService) -> dict[str, Any]:
    broker = RabbitBroker(apply_types=True)
    exchange = topic_exchange(topology.exchange(service.name))
    for type_ in sorted(published_types()):
        if topology.producer_of(type_) != service.name:
            continue
        broker.publisher(
            exchange=exchange,
            routing_key=topology.routing_key(type_),
            title=f"{exchange.name}:{topology.routing_key(type_)}",
            schema=envelope_model(type_),
            # As Bus.publish sends them: the document says deliveryMode 2, not 1.
            persist=True,
            mandatory=True,
            description=f"Publishes {type_} (persistent, confirmed, mandatory).",
        )
    for consumer in service.consumers:
        models = tuple(envelope_model(t) for t in consumer.event_types)
        payload = models[0] if len(models) == 1 else Union[models]  # noqa: UP007

        async def handle(body: Any) -> None:
            return None

        handle.__annotations__ = {"body": payload, "return": None}
        handle.__name__ = f"on_{consumer.purpose.replace('-', '_')}"
        broker.subscriber(
            consumer_queue(consumer.queue, delivery_limit=service.settings.delivery_limit),
            title=consumer.queue,
            description=(consumer.description or "").strip()
            or f"Consumes {', '.join(consumer.event_types)}",
        )(handle)
    spec = AsyncAPI(
        broker,
        title=service.title,
        version=service.version,
        description=service.description or f"Messages of the Kohtaamo {service.name} service.",
    ).to_specification()
    document: dict[str, Any] = json.loads(spec.to_json())  # an AsyncAPI document: an object
    return document
