"""Broker identities: each service connects to its site's RabbitMQ as its own user, which
may configure and read only its own queues and write only to its own exchange (plus the
dead-letter and retry paths it needs). Every publish carries the AMQP `user_id`, which
RabbitMQ checks against the connection's user, so a consumer knows which service of its
site published a message and refuses one whose producer may not publish its type."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from contracts import topology


class Permissions(NamedTuple):
    """RabbitMQ permission patterns of a service's user (on its site's vhost)."""

    configure: str
    write: str
    read: str


def user_name(prefix: str, service: str) -> str:
    """The RabbitMQ user a service connects as: `<prefix><service>` (`kohtaamo-events`)."""
    return f"{prefix}{service}"


def permissions(service: str) -> Permissions:
    """What the service's user may do. Configure: its own queues (`kohtaamo.<service>.*`:
    consumer, retry and dead-letter queues) and the shared exchanges it declares before
    binding (declaring an existing exchange needs configure; they are in the site's
    definitions anyway). Write: its own exchanges (events; retries and replays) and queues
    (a binding needs write on the queue), and the dead-letter exchange; not the default
    exchange, through which it could put messages into any queue. Read: its own queues,
    and the exchanges its queues are bound to."""
    own = re.escape(service)
    return Permissions(
        configure=rf"^kohtaamo\.({own}\..+|dlx|[^.]+\.events)$",
        write=rf"^kohtaamo\.({own}\..+|dlx)$",
        read=rf"^kohtaamo\.({own}\..+|dlx|[^.]+\.events)$",
    )


def connection_user(amqp_url: str) -> str:
    """The user an AMQP URL logs in as (what RabbitMQ checks a publish's user_id against)."""
    return unquote(urlsplit(amqp_url).username or "guest")


def producers(prefix: str, event_type: str, own_user: str) -> frozenset[str]:
    """The users whose messages of `event_type` a consumer accepts: the producing service's
    user, and the consumer's own (its retries, and an operator's replay with its
    credentials, come back from its own user; replay leaves `unauthenticated` letters be).
    Where services share one user (a development broker), that user is everyone's."""
    return frozenset({user_name(prefix, topology.producer_of(event_type)), own_user})
