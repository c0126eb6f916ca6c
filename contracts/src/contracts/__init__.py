"""Kohtaamo's shared message contracts: envelope, payload models, topology names.

Pure Pydantic, no I/O. Each service's payloads live in `contracts.<service>`.
"""

from contracts.envelope import TYPE_PREFIX, CloudEvent, Payload
from contracts.registry import all_types, event_type, model_for, register

__all__ = [
    "TYPE_PREFIX",
    "CloudEvent",
    "Payload",
    "all_types",
    "event_type",
    "model_for",
    "register",
]
