"""Per-run RabbitMQ virtual hosts, so test runs never see each other's queues."""

from __future__ import annotations

import shutil
import subprocess
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
