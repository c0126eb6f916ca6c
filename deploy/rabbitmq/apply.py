#!/usr/bin/env python3
"""Render and load a site's RabbitMQ definitions: the platform topology (topology.json beside
this file) plus the site's own file (vhost, users, permissions, federation upstreams and
policies). Standard library only, so it runs on a broker node or in a plain python image.

    python3 deploy/rabbitmq/apply.py render deploy/sites/helsinki/rabbitmq.site.json
    python3 deploy/rabbitmq/apply.py apply  deploy/sites/helsinki/rabbitmq.site.json
    python3 deploy/rabbitmq/apply.py compose deploy/rabbitmq/local.site.json --out DIR

Secrets never live in the site files: a user's password comes from the environment variable
named by its `password_env`, a federation upstream's URI (which carries the link's
credentials) from the one named by its `uri_env`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import grp
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOPOLOGY = HERE / "topology.json"
# Federation policies outrank the topology's queue policies; they apply to exchanges only,
# so the two never compete for the same object anyway.
FEDERATION_PRIORITY = 10
UPSTREAM_DEFAULTS = {
    # One hop: a message federated into this site is never passed on to a third site.
    "max-hops": 1,
    # The upstream keeps a message until this site's broker confirmed it: nothing is lost
    # when the link drops mid-transfer.
    "ack-mode": "on-confirm",
    "trust-user-id": False,
}


class SiteError(Exception):
    """The site file or the environment is incomplete."""


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def load(path: str | Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def render(
    site: Mapping[str, Any],
    *,
    vhost: str | None = None,
    env: Mapping[str, str] | None = None,
    existing_users: set[str] | None = None,
    topology: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Definitions for `rabbitmqctl import_definitions`.

    A user whose password variable is unset keeps its current password when it already
    exists (`existing_users`), and is created with login disabled (blank hash) otherwise.
    """
    env = os.environ if env is None else env
    topology = load(TOPOLOGY) if topology is None else topology
    vh = vhost if vhost is not None else site["vhost"]
    existing = existing_users or set()

    users = []
    for user in site.get("users", []):
        entry = {
            "name": user["name"],
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": user.get("tags", []),
            "limits": {},
        }
        if "password_hash" in user:  # only the local development broker does this
            entry["password_hash"] = user["password_hash"]
        elif env.get(user.get("password_env", "")):
            entry["password_hash"] = password_hash(env[user["password_env"]])
        elif user["name"] in existing:
            continue
        else:
            entry["password_hash"] = ""
        users.append(entry)

    parameters = []
    for upstream in site.get("upstreams", []):
        uri = env.get(upstream["uri_env"], "")
        if not uri:
            raise SiteError(
                f"federation upstream {upstream['name']!r}: set {upstream['uri_env']} to "
                "its AMQP URI (amqps://user:password@host:5671/vhost)"
            )
        value = {**UPSTREAM_DEFAULTS, **upstream.get("value", {}), "uri": uri}
        parameters.append(
            {
                "vhost": vh,
                "component": "federation-upstream",
                "name": upstream["name"],
                "value": value,
            }
        )

    policies = [{**copy.deepcopy(p), "vhost": vh} for p in topology["policies"]]
    for federation in site.get("federation", []):
        policies.append(
            {
                "vhost": vh,
                "name": federation["name"],
                "pattern": federation["pattern"],
                "apply-to": "exchanges",
                "priority": FEDERATION_PRIORITY,
                "definition": {"federation-upstream": federation["upstream"]},
            }
        )

    return {
        "rabbit_version": topology.get("rabbit_version", "3.10.0"),
        "users": users,
        "vhosts": [{"name": vh}],
        "permissions": [
            {
                "user": p["user"],
                "vhost": vh,
                "configure": p["configure"],
                "write": p["write"],
                "read": p["read"],
            }
            for p in site.get("permissions", [])
        ],
        "parameters": parameters,
        "policies": policies,
        "queues": [],
        "exchanges": [{**copy.deepcopy(x), "vhost": vh} for x in topology["exchanges"]],
        "bindings": [],
    }


def compose(site: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """The docker compose broker's secrets: each user's password in `out/<user>/password`,
    generated on the first run and kept after (a service mounts only its own directory),
    and `out/definitions.json` for RabbitMQ to import at boot. No password is in the repo."""
    env: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    for user in site.get("users", []):
        folder = out / user["name"]
        folder.mkdir(exist_ok=True)
        secret = folder / "password"
        if not secret.exists() or not secret.read_text(encoding="utf-8").strip():
            # URL-safe: it goes into the services' AMQP URLs unescaped.
            secret.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        # Readable by the container's non-root user (services, broker): only the services
        # that mount this directory see it.
        folder.chmod(0o755)
        secret.chmod(0o644)
        env[user["password_env"]] = secret.read_text(encoding="utf-8").strip()
    definitions = render(site, env=env)
    target = out / "definitions.json"
    target.write_text(json.dumps(definitions, indent=2) + "\n", encoding="utf-8")
    target.chmod(0o644)
    return definitions


def _ctl() -> str:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise SiteError("rabbitmqctl not found: run this on a broker node (or its pod)")
    return ctl


def list_users() -> set[str]:
    out = subprocess.run(
        [_ctl(), "-q", "list_users", "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return {line.split("\t", 1)[0] for line in out.splitlines() if line.strip()}


def import_definitions(definitions: Mapping[str, Any]) -> None:
    """Load definitions into the running broker. The broker applies them asynchronously."""
    # The file holds password hashes and upstream URIs: private to us and the broker's group
    # (Debian's rabbitmqctl re-runs itself as the `rabbitmq` user, so it must read the file;
    # 3.10 does not take definitions on stdin). Removed straight after.
    fd, name = tempfile.mkstemp(prefix="kohtaamo-definitions-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(definitions, out)
        try:
            os.chown(name, -1, grp.getgrnam("rabbitmq").gr_gid)
            os.chmod(name, 0o640)
        except (KeyError, PermissionError):
            pass  # no such group, or not ours to give: the broker runs as this user then
        done = subprocess.run(
            [_ctl(), "-q", "import_definitions", name],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.unlink(name)
    if done.returncode != 0:
        raise SiteError(f"import_definitions failed: {(done.stderr or done.stdout).strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["render", "apply", "compose"])
    parser.add_argument("site", help="a site file, e.g. deploy/sites/kouvola/rabbitmq.site.json")
    parser.add_argument("--vhost", help="load into this vhost instead of the site's")
    parser.add_argument("--out", type=Path, help="compose: the directory of the secrets")
    args = parser.parse_args(argv)
    site = load(args.site)
    try:
        if args.command == "compose":
            if args.out is None:
                raise SiteError("compose needs --out DIR")
            definitions = compose(site, args.out)
            names = ", ".join(u["name"] for u in definitions["users"])
            print(f"broker users ready in {args.out}: {names}")
        elif args.command == "render":
            json.dump(render(site, vhost=args.vhost), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            definitions = render(site, vhost=args.vhost, existing_users=list_users())
            import_definitions(definitions)
            for user in site.get("users", []):
                if not any(u["name"] == user["name"] for u in definitions["users"]):
                    print(f"user {user['name']}: exists, password unchanged", file=sys.stderr)
                elif not next(u for u in definitions["users"] if u["name"] == user["name"])[
                    "password_hash"
                ]:
                    print(
                        f"user {user['name']}: created with login disabled; set "
                        f"{user.get('password_env')} and apply again",
                        file=sys.stderr,
                    )
            print(f"applied {args.site} to vhost {definitions['vhosts'][0]['name']}")
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
