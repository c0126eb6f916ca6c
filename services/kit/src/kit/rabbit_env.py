"""Per-run RabbitMQ virtual hosts, so test runs never see each other's queues."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit


def _ctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise RuntimeError("rabbitmqctl is not installed; set KOHTAAMO_TEST_AMQP_URL instead")
    subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def create_vhost(vhost: str, user: str = "guest") -> None:
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


def delete_vhost(vhost: str) -> None:
    _ctl("delete_vhost", vhost)


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
