"""`kohtaamo`: run services, seed demo data, and operator commands (dead letters, outbox,
backups)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn

from kit import localstore, registry
from kit.settings import DEMO_MUNICIPALITIES, KitSettings

if TYPE_CHECKING:
    from kit.rabbit_admin import RabbitAdmin  # imported when used: the CLI starts quickly

app = typer.Typer(help="Kohtaamo platform command line.", no_args_is_help=True)
dlq = typer.Typer(help="Inspect and replay dead-lettered messages.", no_args_is_help=True)
outbox = typer.Typer(help="Outbox state of services.", no_args_is_help=True)
keys = typer.Typer(help="The site's event signing keys.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
backup = typer.Typer(help="Dump and restore the services' databases.", no_args_is_help=True)
app.add_typer(outbox, name="outbox")
app.add_typer(backup, name="backup")
app.add_typer(keys, name="keys")


@keys.command("new")
def keys_new(
    site: Annotated[str, typer.Option(help="The site's name (its keys' ids start with it)")],
    version: Annotated[str, typer.Option(help="This key's version, e.g. 2026-12")],
) -> None:
    """Print a new Ed25519 event signing key: the private JWK (for the secret
    KOHTAAMO_EVENT_SIGNING_KEY) and its public half (for KOHTAAMO_EVENT_SITE_JWKS and
    partners' JWKS)."""
    from kit.signatures import new_key, public_jwk

    key = new_key(site, version)
    typer.echo(json.dumps({"private": key, "public": public_jwk(key)}, indent=2))


def _service(target: str) -> Any:
    return registry.load_factory(target)()


def _has_store_and_bus(svc: Any) -> bool:
    """A kit Service; an HTTP-only process (the gateway) has no store, bus or outbox."""
    from kit.app import Service

    return isinstance(svc, Service)


@app.command()
def run(
    service: Annotated[str, typer.Argument(help="Installed service name, or module:factory")],
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default per service)")] = None,
) -> None:
    """Run one service: its HTTP API, consumers and outbox relay in one process."""
    svc = _service(service)
    uvicorn.run(
        svc.create_app(),
        host=host or svc.settings.host,
        port=port or svc.settings.http_port(),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        server_header=False,  # no banner naming the server software
        # The app applies KOHTAAMO_TRUSTED_PROXIES itself (kit.app); uvicorn's default would
        # also trust FORWARDED_ALLOW_IPS or loopback.
        proxy_headers=False,
    )


@app.command("services")
def list_services() -> None:
    """List the services installed in this environment and their default ports."""
    from kit.settings import DEFAULT_PORTS

    for name in registry.installed():
        typer.echo(f"{name}\t:{DEFAULT_PORTS.get(name, 8080)}")


@app.command("run-all")
def run_all(
    only: Annotated[list[str] | None, typer.Option("--only", help="Run just these")] = None,
    data_dir: Annotated[Path, typer.Option(help="Embedded store data")] = Path("var/store"),
    store_port: Annotated[int, typer.Option(help="Embedded store port")] = 27018,
    seed: Annotated[bool, typer.Option(help="Seed demo data once")] = True,
) -> None:
    """Run every installed service as its own process (supervised by honcho), with the
    embedded store unless KOHTAAMO_MONGO_URL is set. Ctrl-C stops everything."""
    try:
        from honcho.manager import Manager
        from honcho.printer import Printer
    except ImportError:  # a production install: no supervisor, no embedded store
        raise typer.BadParameter(
            "run-all needs the development extra: `uv sync` (make run) or "
            "pip install 'kohtaamo-kit[local]'"
        ) from None

    names = only or registry.installed()
    env = {**_local_secrets(data_dir.parent / "secrets.env"), **os.environ}
    # Each service as its own broker user on the local broker (the URL's vhost; a broker
    # elsewhere has its own users: then the URL's user is everyone's).
    urls = _local_broker_users(registry.installed(), env)
    # One site serving both demo municipalities (a real site sets its own).
    env.setdefault("KOHTAAMO_MUNICIPALITIES", ",".join(DEMO_MUNICIPALITIES))
    manager = Manager(Printer(sys.stdout))
    store = None
    if not env.get("KOHTAAMO_MONGO_URL"):
        data_dir.mkdir(parents=True, exist_ok=True)
        typer.echo(f"starting the embedded store (SecantusDB) on :{store_port}, data in {data_dir}")
        store = localstore.start_store(
            data_dir=data_dir, port=store_port, log_file=data_dir / "secantusd.log"
        )
        env["KOHTAAMO_MONGO_URL"] = localstore.store_url(store_port)
        env["KOHTAAMO_MONGO_KIND"] = "embedded"
    try:
        # Seeders are idempotent; with the embedded store a marker saves the work on reruns.
        marker = data_dir / ".seeded"
        if seed and (store is None or not marker.exists()):
            _seed_all(names, env, urls)
            if store is not None:
                marker.write_text("seeded\n")
        exe = shutil.which("kohtaamo") or f"{sys.executable} -m kit.cli"
        from kit.settings import DEFAULT_PORTS

        for name in names:
            own = {"KOHTAAMO_AMQP_URL": urls[name]} if name in urls else {}
            manager.add_process(name, f"{exe} run {name}", env={**env, **own})
        if "notifications" in names and not env.get("KOHTAAMO_SMTP_HOST"):
            # A local SMTP catcher that prints every mail, where notifications sends by default.
            manager.add_process(
                "smtp", f"{sys.executable} -m aiosmtpd -n -u -l 127.0.0.1:8025", env=env
            )
        typer.echo("\nKohtaamo is starting:")
        for name in names:
            typer.echo(
                f"  {name:<14} http://127.0.0.1:{DEFAULT_PORTS.get(name, 8080)}  (/docs, /readyz)"
            )
        if "notifications" in names and not env.get("KOHTAAMO_SMTP_HOST"):
            typer.echo("  smtp catcher   127.0.0.1:8025 (mails are printed here)")
        typer.echo("  store          " + env["KOHTAAMO_MONGO_URL"])
        broker = KitSettings().amqp_url.get_secret_value().split("@")[-1]
        users = ", one user per service" if urls else ""
        typer.echo(f"  broker         {broker}{users}")
        typer.echo("Ctrl-C stops everything.\n")
        manager.loop()
    finally:
        if store is not None:
            localstore.stop_store(store)
    raise typer.Exit(manager.returncode or 0)


# Secrets a local run needs; generated once into a git-ignored file, never kept in code.
LOCAL_SECRETS = ("KOHTAAMO_PSEUDONYM_KEY", "KOHTAAMO_KEY_ENCRYPTION_SECRET")


def _local_secrets(path: Path) -> dict[str, str]:
    import secrets

    from kit.signatures import new_key

    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key and value:
                values[key.strip()] = value.strip()
    wanted = [*LOCAL_SECRETS, *(_broker_password_key(n) for n in registry.installed())]
    missing = [k for k in wanted if k not in values]
    if "KOHTAAMO_EVENT_SIGNING_KEY" not in values:
        # The local site's event signing key (its name is the default municipality's).
        site = os.environ.get("KOHTAAMO_SITE") or os.environ.get("KOHTAAMO_MUNICIPALITY")
        signing = new_key(site or "helsinki", "local")
        missing.append("KOHTAAMO_EVENT_SIGNING_KEY")
        values["KOHTAAMO_EVENT_SIGNING_KEY"] = json.dumps(signing, separators=(",", ":"))
    if missing:
        values.update({k: secrets.token_urlsafe(32) for k in missing if k not in values})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
        typer.echo(f"generated local secrets in {path}")
    return values


def _broker_password_key(service: str) -> str:
    return f"KOHTAAMO_BROKER_PASSWORD_{service.upper()}"


def _local_broker_users(services: list[str], env: dict[str, str]) -> dict[str, str]:
    """Create (or update) a broker user per service on the local broker, on the vhost of
    KOHTAAMO_AMQP_URL (`/` by default), with a site's permissions (kit.broker_users), and
    return each one's AMQP URL. Empty when the broker is not on this machine or
    rabbitmqctl is not here: then every service shares the URL's user (and says so)."""
    from urllib.parse import urlsplit

    from kit import rabbit_env
    from kit.broker_users import permissions, user_name

    settings = KitSettings()
    base = settings.amqp_url.get_secret_value()
    if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        typer.echo("the broker is not local: every service connects as KOHTAAMO_AMQP_URL's user")
        return {}
    if shutil.which("rabbitmqctl") is None:
        typer.echo("rabbitmqctl not found: every service connects as the default user")
        return {}
    prefix = settings.broker_user_prefix
    passwords = {user_name(prefix, s): env[_broker_password_key(s)] for s in services}
    rabbit_env.add_users(
        rabbit_env.vhost_of(base),
        {user_name(prefix, s): permissions(s) for s in services},
        passwords,
    )
    return {
        s: rabbit_env.with_credentials(base, user_name(prefix, s), passwords[user_name(prefix, s)])
        for s in services
    }


def _broker_urls_from(folder: Path) -> dict[str, str]:
    """Each installed service's AMQP URL: the shared URL's broker, as the service's own
    user with the password in `<folder>/<user>/password`."""
    from kit import rabbit_env
    from kit.broker_users import user_name

    settings = KitSettings()
    base = settings.amqp_url.get_secret_value()
    urls = {}
    for name in registry.installed():
        user = user_name(settings.broker_user_prefix, name)
        password = (folder / user / "password").read_text(encoding="utf-8").strip()
        urls[name] = rabbit_env.with_credentials(base, user, password)
    return urls


def _seed_all(names: list[str], env: dict[str, str], urls: dict[str, str] | None = None) -> None:
    # Seeding runs the services' consumers too: they must act on both demo municipalities.
    env = {"KOHTAAMO_MUNICIPALITIES": ",".join(DEMO_MUNICIPALITIES), **env}
    os.environ.update(env)

    # Each service's own broker user, where services have their own (KOHTAAMO_BROKER_URLS:
    # a JSON object service -> AMQP URL, as the test platform passes it): a user may
    # declare only its own service's queues.
    urls = urls or json.loads(os.environ.get("KOHTAAMO_BROKER_URLS") or "{}")
    shared = os.environ.get("KOHTAAMO_AMQP_URL")
    if not urls and os.environ.get("KOHTAAMO_BROKER_PASSWORDS_DIR"):
        # docker compose: every service's generated password (deploy/rabbitmq/apply.py
        # compose) on the broker of KOHTAAMO_AMQP_URL.
        urls = _broker_urls_from(Path(os.environ["KOHTAAMO_BROKER_PASSWORDS_DIR"]))

    async def declare() -> None:
        # Every consumer's queue exists before any seeder publishes.
        for name in registry.installed():
            if name in urls:
                os.environ["KOHTAAMO_AMQP_URL"] = urls[name]
            svc = _service(name)
            if not _has_store_and_bus(svc):
                continue
            try:
                await svc.declare_topology()
            finally:
                await svc.bus.stop()
                await svc.store.close()

    asyncio.run(declare())
    if shared is not None:
        os.environ["KOHTAAMO_AMQP_URL"] = shared
    for name in names:
        seeder = registry.seeder(name)
        if seeder is None:
            continue
        if urls and name in urls:  # the seeder publishes as the service does
            os.environ["KOHTAAMO_AMQP_URL"] = urls[name]
        result = asyncio.run(_seed_one(name, seeder))
        typer.echo(f"seeded {name}: {json.dumps(result)}")


async def _seed_one(name: str, seeder: Any) -> Any:
    svc = _service(name)
    await svc.start()
    try:
        result = await seeder(svc)
        await svc.relay.publish_pending()
        return result
    finally:
        await svc.stop()


@app.command()
def seed(services: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Seed demo data for Helsinki and Kouvola (idempotent)."""
    _seed_all(services or registry.installed(), dict(os.environ))


def _queues(services: list[str] | None) -> list[str]:
    queues = []
    for name in services or registry.installed():
        queues += [c.queue for c in _service(name).consumers]
    return queues


def _admin() -> RabbitAdmin:
    from kit.rabbit_admin import RabbitAdmin

    return RabbitAdmin(KitSettings().amqp_url.get_secret_value())


@dlq.command("list")
def dlq_list(services: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Dead-letter queues of the installed services and how many messages each holds."""

    async def go() -> None:
        admin = _admin()
        try:
            for queue in _queues(services):
                counts = await admin.queue_counts(queue + ".dlq")
                held = "not declared" if counts is None else str(counts[0])
                typer.echo(f"{queue}.dlq\t{held}")
        finally:
            await admin.close()

    asyncio.run(go())


@dlq.command("peek")
def dlq_peek(
    queue: Annotated[
        str, typer.Argument(help="The consumer queue, e.g. kohtaamo.notifications.contacts")
    ],
    limit: int = 10,
    body: Annotated[bool, typer.Option(help="Show bodies too")] = False,
) -> None:
    """Show dead letters with their reasons, leaving them in place."""

    async def go() -> None:
        admin = _admin()
        try:
            for letter in await admin.peek(queue, limit=limit):
                row = letter.summary()
                if body:
                    row["body"] = letter.body_json()
                typer.echo(json.dumps(row, default=str, ensure_ascii=False))
        finally:
            await admin.close()

    asyncio.run(go())


@dlq.command("replay")
def dlq_replay(
    queue: Annotated[str, typer.Argument(help="The consumer queue the letters came from")],
    message_id: Annotated[str | None, typer.Option("--id", help="Only this message")] = None,
) -> None:
    """Send dead letters back to their queue (after a fix), retry count reset."""

    async def go() -> int:
        admin = _admin()
        try:
            return await admin.replay(queue, message_id=message_id)
        finally:
            await admin.close()

    typer.echo(f"replayed {asyncio.run(go())} message(s) to {queue}")


@app.command()
def asyncapi(
    services: Annotated[list[str] | None, typer.Argument()] = None,
    out: Annotated[Path, typer.Option(help="Folder for <service>.json")] = Path("docs/asyncapi"),
) -> None:
    """Write each service's AsyncAPI document, generated from its code."""
    from kit.asyncapi import specification

    # Generation builds services without connecting: required secrets only need a value.
    for secret in LOCAL_SECRETS:
        os.environ.setdefault(secret, "docs-only")
    out.mkdir(parents=True, exist_ok=True)
    for name in services or registry.installed():
        path = out / f"{name}.json"
        path.write_text(json.dumps(specification(_service(name)), indent=2, sort_keys=True) + "\n")
        typer.echo(f"wrote {path}")


@app.command("trace")
def trace(
    correlation_id: Annotated[str, typer.Argument(help="the X-Correlation-ID of a request")],
    logs: Annotated[
        list[Path] | None, typer.Argument(help="JSON log files (default: standard input)")
    ] = None,
) -> None:
    """A request's chain across services from their JSON logs: each line of it in time
    order, then a JSON summary (services, events, trace ids, retries, dead letters)."""
    from kit.logtrace import chain, render

    def lines() -> Any:
        if not logs:
            yield from sys.stdin
            return
        for path in logs:
            with path.open(errors="replace") as handle:
                yield from handle

    records = chain(lines(), correlation_id)
    for line in render(records):
        typer.echo(line)
    if not records:
        raise typer.Exit(1)


@outbox.command("lag")
def outbox_lag(services: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Unpublished outbox entries and the age of the oldest, per service."""

    async def go() -> None:
        for name in services or registry.installed():
            svc = _service(name)
            if not _has_store_and_bus(svc):
                continue
            try:
                lag = await svc.outbox.lag()
            finally:
                await svc.store.close()
            typer.echo(json.dumps({"service": name, **lag}))

    asyncio.run(go())


@outbox.command("parked")
def outbox_parked(service: Annotated[str, typer.Argument()]) -> None:
    """Entries parked as unroutable (no queue was bound for their type), one JSON line each."""

    async def go() -> None:
        svc = _service(service)
        try:
            for entry in await svc.outbox.list_parked():
                typer.echo(json.dumps(entry, default=str))
        finally:
            await svc.store.close()

    asyncio.run(go())


@outbox.command("unpark")
def outbox_unpark(
    service: Annotated[str, typer.Argument()],
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type")] = None,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Only these entry ids")] = None,
) -> None:
    """Give parked entries back to the relay (after deploying the consumer that was missing)."""

    async def go() -> int:
        svc = _service(service)
        try:
            return int(await svc.outbox.unpark(event_type=event_type, ids=ids))
        finally:
            await svc.store.close()

    typer.echo(f"unparked {asyncio.run(go())} entr(y/ies)")


def _store_client() -> Any:
    from pymongo import MongoClient

    from kit.mongo import client_options, resolve_kind

    settings = KitSettings()
    options = client_options(settings, resolve_kind(settings))
    options.pop("maxPoolSize")
    return MongoClient(settings.mongo_url.get_secret_value(), **options)


@backup.command("dump")
def backup_dump(
    out: Annotated[Path, typer.Argument(help="Directory to write (one subdirectory per db)")],
    prefix: Annotated[str, typer.Option(help="Databases whose names start so")] = "kohtaamo_",
    compress: Annotated[bool, typer.Option(help="gzip each collection")] = True,
) -> None:
    """Every database of KOHTAAMO_MONGO_URL named `<prefix>...`, in mongodump's layout."""
    from kit import backup as backups

    with _store_client() as client:
        counts = backups.dump(client, out, backups.databases(client, prefix), compress=compress)
    typer.echo(backups.summary(counts))


@backup.command("restore")
def backup_restore(
    source: Annotated[Path, typer.Argument(help="A directory `kohtaamo backup dump` wrote")],
    drop: Annotated[bool, typer.Option(help="Replace collections that exist")] = False,
) -> None:
    """Write a dump back into KOHTAAMO_MONGO_URL (with its indexes)."""
    from kit import backup as backups

    with _store_client() as client:
        try:
            counts = backups.restore(client, source, drop=drop)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    typer.echo(backups.summary(counts))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
