"""Per-run RabbitMQ virtual hosts and service users, so test runs never see each other's
queues and each service connects as its own user, as on a site."""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from kit.broker_users import Permissions

# A broker busy recovering vhosts can hold every vhost operation for minutes (seen with
# RabbitMQ 3.10 under load); a call is retried until this deadline, never forever.
ADMIN_DEADLINE_S = 300.0


def _ctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise RuntimeError("rabbitmqctl is not installed; set KOHTAAMO_TEST_AMQP_URL instead")
    deadline = time.monotonic() + ADMIN_DEADLINE_S
    while True:
        try:
            subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)
            return
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                raise


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def create_vhost(vhost: str, user: str = "guest") -> None:
    """Create `vhost` with all permissions for `user`, in one definitions import."""
    _import(
        {
            "vhosts": [{"name": vhost}],
            "permissions": [
                {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
            ],
        }
    )


def delete_vhost(vhost: str) -> None:
    """Delete `vhost`; one that is already gone is fine."""
    try:
        _ctl("delete_vhost", vhost)
    except subprocess.CalledProcessError as exc:
        if b"does not exist" not in exc.stderr + exc.stdout:
            raise


def delete_vhosts(vhosts: Iterable[str]) -> list[str]:
    """Delete each of `vhosts`, going on past failures; returns those not deleted."""
    failed = []
    for vhost in vhosts:
        try:
            delete_vhost(vhost)
        except (RuntimeError, subprocess.SubprocessError):
            failed.append(vhost)
    return failed


def vhost_of(url: str) -> str:
    return unquote(urlsplit(url).path[1:]) or "/"


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _password_hash(password: str) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def add_users(vhost: str, users: Mapping[str, Permissions], passwords: Mapping[str, str]) -> None:
    """Create the users in `passwords` and give every user in `users` its permissions on
    `vhost`, in one definitions import."""
    definitions = {
        "users": [
            {
                "name": name,
                "password_hash": _password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
                "limits": {},
            }
            for name, password in passwords.items()
        ],
        "permissions": [{"user": name, "vhost": vhost, **p._asdict()} for name, p in users.items()],
    }
    _import(definitions)


def _import(definitions: Mapping[str, object]) -> None:
    """Import broker definitions in one CLI start (each `rabbitmqctl` call boots an Erlang
    VM, about a second of CPU); they are in effect when this returns."""
    # Debian's rabbitmqctl re-runs itself as the `rabbitmq` user, which must read the file;
    # it may hold password hashes, so only we and that group may. Removed straight after.
    fd, name = tempfile.mkstemp(prefix="kohtaamo-definitions-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(definitions, out)
        with contextlib.suppress(KeyError, PermissionError):
            os.chown(name, -1, grp.getgrnam("rabbitmq").gr_gid)
            os.chmod(name, 0o640)
        _ctl("import_definitions", name)
    finally:
        os.unlink(name)


def delete_users(names: Iterable[str]) -> None:
    """Delete users (those already gone are fine)."""
    names = list(names)
    if not names:
        return
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return
    # Side by side: each `rabbitmqctl` start takes about a second.
    processes = [
        subprocess.Popen(
            [ctl, "-q", "delete_user", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for name in names
    ]
    for process in processes:
        process.wait(120)


class PrivateBroker:
    """A RabbitMQ node of our own (own name, ports and data directory), for tests that
    restart the broker: the shared broker of the machine is never stopped."""

    def __init__(self, base: Path, *, name: str = "kohtaamo-fault", cookie: str = "") -> None:
        import socket

        def free() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return int(s.getsockname()[1])

        self.base = base
        self.node = f"{name}-{os.getpid()}@localhost"
        self.port = free()
        self.dist_port = free()
        home = base / "home"
        home.mkdir(parents=True, exist_ok=True)
        if cookie:  # nodes of one cluster share their Erlang cookie
            cookie_file = home / ".erlang.cookie"
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        (base / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(home),  # the node's own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _bin(self, name: str) -> str:
        # The raw scripts, not Debian's wrappers that switch to the rabbitmq user (and its
        # cookie): this node runs as the caller with its own HOME.
        raw = Path("/usr/lib/rabbitmq/bin") / name
        found = str(raw) if raw.exists() else shutil.which(name)
        if not found:
            raise RuntimeError(f"{name} not found; install rabbitmq-server")
        return found

    def ctl(self, *args: str, timeout: float = 180) -> None:
        subprocess.run(
            [self._bin("rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        self.launch()
        self.await_startup()

    def launch(self) -> None:
        """Start the node in the background (`await_startup` waits for it)."""
        subprocess.run(
            [self._bin("rabbitmq-server"), "-detached"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
            cwd=self.base,
        )

    def await_startup(self, timeout: float = 240) -> None:
        # `await_startup` gives up at once while the node's distribution is not up yet.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl("await_startup", "--timeout", "60", timeout=90)
                return
            except subprocess.SubprocessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def stop_app(self) -> None:
        """Stop the broker (every connection dropped), keeping the node for a restart."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.await_startup()

    def kill(self) -> None:
        """The node's VM killed outright (a crashed machine): no goodbye to anyone."""
        pid_file = self.base / "pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.1)
            pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        try:
            self.ctl("stop", timeout=60)
        except (subprocess.SubprocessError, OSError):
            self.kill()


class PrivateCluster:
    """Three (or `size`) private RabbitMQ nodes clustered with each other, on ports of
    their own: quorum queues get a member on every node. The shared broker is untouched."""

    def __init__(self, base: Path, *, size: int = 3, name: str = "kohtaamo-cluster") -> None:
        import secrets

        cookie = secrets.token_hex(20)
        self.nodes = [
            PrivateBroker(base / f"node{i}", name=f"{name}{i}", cookie=cookie) for i in range(size)
        ]

    def start(self) -> None:
        # Side by side: most of a node's start is its Erlang VM booting.
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.await_startup()
        first, *others = self.nodes
        for node in others:  # one at a time: joins to one seed do not run side by side
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")  # returns once the node runs again, in the cluster

    def running_nodes(self, via: int = 0) -> set[str]:
        """The nodes the cluster reports running, asked through node `via`."""
        import json

        node = self.nodes[via]
        out = subprocess.run(
            [node._bin("rabbitmqctl"), "-n", node.node, "cluster_status", "--formatter", "json"],
            env=node.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return set(json.loads(out)["running_nodes"])

    def restart(self, index: int) -> None:
        """Bring a killed node back; it rejoins the cluster from its own data."""
        node = self.nodes[index]
        node.launch()
        node.await_startup()

    def stop(self) -> None:
        # Killed, not stopped: their data is thrown away, and a graceful stop of a
        # cluster member waits on the others.
        for node in self.nodes:
            node.kill()
