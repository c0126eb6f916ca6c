"""The RabbitMQ definitions and policies in deploy/ against the kit's topology and against
the real broker: they load, a kit service runs on them with the site's least-privilege
user, consumes and dead-letters, and the policies do what docs/operations.md says."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import pytest
import yaml
from aiormq.exceptions import ChannelAccessRefused

from contracts import Payload, register, topology
from kit.app import Service
from kit.broker_users import permissions
from kit.consumer import Delivery, Rejected
from kit.pytest_plugin import base_url
from kit.rabbit_admin import RabbitAdmin
from kit.settings import KitSettings

from .conftest import (
    DEPLOY,
    ROOT,
    SERVICES,
    Broker,
    ctl,
    load_apply,
    policies,
    site_definitions,
    wait_for,
)

TOPOLOGY = json.loads((DEPLOY / "rabbitmq" / "topology.json").read_text())
POLICY = {p["name"]: p for p in TOPOLOGY["policies"]}
# A test-only event type under a real producer, so the kit re-declares an exchange that the
# definitions created: a mismatch in type or durability would fail the declaration.
LETTER = "kohtaamo.gateway.deploycheck.letter.v1"
HELSINKI_SITE = DEPLOY / "sites" / "helsinki" / "rabbitmq.site.json"


@register(LETTER)
class Letter(Payload):
    text: str


def test_topology_exchanges_are_the_kits() -> None:
    exchanges = {x["name"]: x for x in TOPOLOGY["exchanges"]}
    expected = {topology.exchange(s) for s in SERVICES} | {topology.DEAD_LETTER_EXCHANGE}
    assert set(exchanges) == expected
    assert set(SERVICES) == set(topology.SERVICES)
    for name, x in exchanges.items():
        assert x["durable"] and not x["auto_delete"]
        assert x["type"] == ("direct" if name == topology.DEAD_LETTER_EXCHANGE else "topic")


def test_policies_match_consumer_queues_but_not_their_helpers() -> None:
    consumer = re.compile(POLICY["kohtaamo-consumer-queues"]["pattern"])
    dead = re.compile(POLICY["kohtaamo-dead-letter-queues"]["pattern"])
    names = [topology.queue(s, p) for s in SERVICES for p in ("identity-users", "facts")]
    for name in names:
        assert consumer.search(name) and not dead.search(name)
        dlq = topology.dead_letter_queue(name)
        assert dead.search(dlq) and not consumer.search(dlq)
        # Retry queues are classic queues with their own TTL and dead-lettering; neither
        # policy may touch them.
        retry = topology.retry_queue(name, 1000)
        assert not consumer.search(retry) and not dead.search(retry)
    # The dead-letter queues must never get a delivery limit: `kohtaamo dlq peek` requeues,
    # and every peek would count as a delivery.
    assert "delivery-limit" not in POLICY["kohtaamo-dead-letter-queues"]["definition"]
    assert POLICY["kohtaamo-consumer-queues"]["definition"]["dead-letter-exchange"] == (
        topology.DEAD_LETTER_EXCHANGE
    )


def test_installed_services_queue_names_get_the_policies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every consumer queue the installed services declare falls under the consumer policy."""
    from kit import registry

    # Services that need a secret to start get a throwaway one; nothing connects here.
    monkeypatch.setenv("KOHTAAMO_PSEUDONYM_KEY", "deploy-test-only-key-0123456789abcdef")
    monkeypatch.setenv("KOHTAAMO_KEY_ENCRYPTION_SECRET", "deploy-test-only-0123456789abcdef")
    consumer = re.compile(POLICY["kohtaamo-consumer-queues"]["pattern"])
    installed = registry.installed()
    queues = []
    for name in installed:
        svc = registry.load_factory(name)()
        queues += [c.queue for c in svc.consumers]
    if not queues:
        pytest.skip(f"no installed service declares consumers yet ({installed})")
    assert [q for q in queues if not consumer.search(q)] == []


def test_compose_broker_users_get_generated_passwords_kept_across_runs(tmp_path: Path) -> None:
    """`apply.py compose` (docker compose's broker-users container): a password per user,
    generated once and kept by the next run, and definitions with those users' hashes."""
    apply = load_apply()
    site = apply.load(DEPLOY / "rabbitmq" / "local.site.json")
    first = apply.compose(site, tmp_path)
    passwords = {u["name"]: (tmp_path / u["name"] / "password").read_text() for u in site["users"]}
    assert len(set(passwords.values())) == len(passwords)  # nobody shares a password
    assert all(len(p) >= 24 for p in passwords.values())
    second = apply.compose(site, tmp_path)
    assert passwords == {u: (tmp_path / u / "password").read_text() for u in passwords}
    assert json.loads((tmp_path / "definitions.json").read_text()) == second
    for definitions in (first, second):
        for user in definitions["users"]:
            salted = base64.b64decode(user["password_hash"])
            assert apply.password_hash(passwords[user["name"]], salted[:4]) == user["password_hash"]
        assert {p["user"] for p in definitions["permissions"]} == set(passwords)


def test_site_files_give_each_service_its_own_user_with_the_kit_permissions() -> None:
    apply = load_apply()
    for site in ("helsinki", "kouvola"):
        data = apply.load(DEPLOY / "sites" / site / "rabbitmq.site.json")
        services = {
            u["name"].removeprefix("kohtaamo-")
            for u in data["users"]
            if u["name"].startswith("kohtaamo-")
        }
        assert "gateway" in services and ("identity" in services) == (site == "helsinki")
        granted = {p["user"]: p for p in data["permissions"]}
        for service in services:
            wanted = permissions(service)._asdict()
            got = {k: granted[f"kohtaamo-{service}"][k] for k in wanted}
            assert got == wanted, (site, service)
            # Never the default exchange: it reaches every queue.
            assert not re.search(got["write"], "amq.default")


def test_site_files_render_and_demand_their_secrets() -> None:
    apply = load_apply()
    for site in ("helsinki", "kouvola"):
        data = apply.load(DEPLOY / "sites" / site / "rabbitmq.site.json")
        with pytest.raises(apply.SiteError, match="KOHTAAMO_FEDERATION_"):
            apply.render(data, env={})
        env = {
            u["uri_env"]: "amqps://u:p@rabbitmq.example:5671/kohtaamo" for u in data["upstreams"]
        }
        rendered = apply.render(data, env=env)
        # No password in the file: without the variable a new user cannot log in at all.
        assert all(u["password_hash"] == "" for u in rendered["users"])
        assert all(u.get("password_env") for u in data["users"])
        assert not re.search(r"password_hash", json.dumps(data))


@pytest.mark.broker
async def test_compose_broker_refuses_a_service_writing_another_services_exchange(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose broker's definitions as the broker-users container renders them, loaded
    into a vhost of this run: a service logs in as its compose settings say (its own user,
    the password from its file) and RabbitMQ lets it write its own exchange only."""
    apply = load_apply()
    site = apply.load(DEPLOY / "rabbitmq" / "local.site.json")
    apply.compose(site, tmp_path)
    vhost = broker.vhost("compose")
    # What the broker-users container renders, on this run's vhost with run-unique names.
    definitions, names = site_definitions(
        DEPLOY / "rabbitmq" / "local.site.json",
        broker,
        vhost=vhost,
        passwords={
            u["name"]: (tmp_path / u["name"] / "password").read_text() for u in site["users"]
        },
    )
    broker.load(definitions)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["events"]["environment"]
    url = urlsplit(env["KOHTAAMO_AMQP_URL"])
    # The compose URL on this machine's broker and this run's vhost and user names.
    host = urlsplit(base_url()).netloc.rsplit("@", 1)[-1]
    local = f"amqp://{names[url.username]}@{host}/{quote(vhost, safe='')}"
    monkeypatch.setenv("KOHTAAMO_AMQP_URL", local)
    monkeypatch.setenv("KOHTAAMO_AMQP_PASSWORD_FILE", str(tmp_path / url.username / "password"))
    settings = KitSettings()
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        own = await channel.get_exchange(topology.exchange("events"), ensure=False)
        user_id = names[url.username]
        await own.publish(aio_pika.Message(b"{}", user_id=user_id), routing_key="x")
        identity = await channel.get_exchange(topology.exchange("identity"), ensure=False)
        with pytest.raises(ChannelAccessRefused, match=r"kohtaamo\.identity\.events"):
            await identity.publish(aio_pika.Message(b"{}", user_id=user_id), routing_key="x")
    finally:
        await connection.close()


async def nack_until_gone(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    """Take the message and put it back until the broker dead-letters it: deliveries seen."""
    q = await channel.declare_queue(queue, passive=True)
    deliveries = 0
    idle = 0
    while idle < 8:
        message = await q.get(no_ack=False, fail=False)
        if message is None:
            idle += 1
            await asyncio.sleep(0.1)
            continue
        idle = 0
        deliveries += 1
        await message.nack(requeue=True)
    return deliveries


async def dead_letter_count(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    for _ in range(50):
        q = await channel.declare_queue(topology.dead_letter_queue(queue), passive=True)
        if q.declaration_result.message_count:
            return int(q.declaration_result.message_count)
        await asyncio.sleep(0.1)
    return 0


@pytest.mark.broker
@pytest.mark.store
async def test_kit_service_runs_on_the_site_definitions(
    broker: Broker, make_settings: Callable[..., Any]
) -> None:
    vhost = broker.vhost("site")
    definitions, users = site_definitions(
        HELSINKI_SITE,
        broker,
        vhost=vhost,
        passwords={u["name"]: "svc-secret" for u in load_apply().load(HELSINKI_SITE)["users"]},
        federation=False,
    )
    broker.load(definitions)
    # The service connects as its own user of the site file: its permissions must be enough.
    host = urlsplit(base_url()).netloc.rsplit("@", 1)[-1]  # the run's broker
    url = f"amqp://{users['kohtaamo-gateway']}:svc-secret@{host}/{quote(vhost, safe='')}"
    settings = make_settings("gateway", amqp_url=url, delivery_limit=5)
    svc = Service("gateway", settings=settings)
    seen: list[str] = []

    @svc.consumer("letters", [LETTER], inbox=False)
    async def on_letter(delivery: Delivery[Letter]) -> None:
        text = delivery.data.text
        if text == "poison":
            raise Rejected("a letter that can never be handled")
        seen.append(text)

    await svc.start()
    admin = RabbitAdmin(url)
    connection = await aio_pika.connect(url)
    try:
        queue = "kohtaamo.gateway.letters"
        applied = policies(vhost)
        assert applied[queue] == "kohtaamo-consumer-queues"
        assert applied[topology.dead_letter_queue(queue)] == "kohtaamo-dead-letter-queues"
        for delay in settings.retry_delays_ms:
            assert applied[topology.retry_queue(queue, delay)] == ""

        for text in ("hello", "poison"):
            await svc.bus.publish_event(
                svc.event(LETTER, Letter(text=text), municipality="helsinki")
            )
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.1)
        assert seen == ["hello"]
        channel = await connection.channel()
        assert await dead_letter_count(channel, queue) == 1
        [letter] = await admin.peek(queue)
        assert letter.reason == "rejected" and letter.event_type == LETTER

        # Peeking requeues; with no delivery limit on the dead-letter queue the letter stays
        # however often an operator looks.
        for _ in range(25):
            assert len(await admin.peek(queue)) == 1

        # The broker's own backstop (a handler that crashes the process): a queue declared
        # by the kit with x-delivery-limit 5 under the policy's 20 dead-letters after the
        # smaller limit, through the definitions' kohtaamo.dlx into its own .dlq.
        crash = "kohtaamo.gateway.crashloop"
        await svc.bus.declare_consumer_queue(crash, [])
        # Through the service's own retry exchange: its user may not write the default one.
        retries = await channel.get_exchange(topology.retry_exchange("gateway"))
        await retries.publish(aio_pika.Message(b"{}"), routing_key=crash)
        assert await nack_until_gone(channel, crash) == 6
        assert await dead_letter_count(channel, crash) == 1
        [dead] = await admin.peek(crash)
        assert dead.reason == "broker:delivery_limit"

        # A queue declared with no arguments at all still gets the policy's limit and
        # dead-letter exchange (the routing key stays the queue's name on the default exchange).
        bare = "kohtaamo.gateway.bare"
        dlq = await channel.declare_queue(
            topology.dead_letter_queue(bare), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(topology.DEAD_LETTER_EXCHANGE, routing_key=bare)
        bare_queue = await channel.declare_queue(
            bare, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await bare_queue.bind(retries, routing_key=bare)
        await retries.publish(aio_pika.Message(b"{}"), routing_key=bare)
        limit = POLICY["kohtaamo-consumer-queues"]["definition"]["delivery-limit"]
        assert await nack_until_gone(channel, bare) == limit + 1
        assert await dead_letter_count(channel, bare) == 1
    finally:
        await connection.close()
        await admin.close()
        await svc.stop()


@pytest.mark.broker
def test_apply_command_creates_users_and_keeps_passwords_it_is_not_given(
    broker: Broker, tmp_path: Path
) -> None:
    """`apply.py apply` as an operator runs it: a second run without the password variable
    leaves the user's password alone instead of locking the user out."""
    vhost = broker.vhost("apply")
    user = broker.user("kohtaamo-services")
    site = {
        "vhost": "ignored-by-the-vhost-option",
        "users": [{"name": user, "tags": [], "password_env": "TEST_APPLY_PASSWORD"}],
        "permissions": [{"user": user, "configure": "^kohtaamo\\.", "write": ".*", "read": ".*"}],
    }
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(site))
    script = str(DEPLOY / "rabbitmq" / "apply.py")

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, script, "apply", str(site_file), "--vhost", vhost],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = run({"TEST_APPLY_PASSWORD": "first-secret"})
    assert first.returncode == 0, first.stderr
    assert f"vhost {vhost}" in first.stdout
    wait_for(
        lambda: ctl("authenticate_user", user, "first-secret", check=False).returncode == 0,
        what="user created",
    )
    second = run({})
    assert second.returncode == 0, second.stderr
    assert "password unchanged" in second.stderr
    assert ctl("authenticate_user", user, "first-secret", check=False).returncode == 0
    assert "kohtaamo-consumer-queues" in ctl("list_policies", "-p", vhost).stdout
