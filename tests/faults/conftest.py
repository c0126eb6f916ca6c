from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.rabbit_env import PrivateBroker

APPS = Path(__file__).parents[1] / "apps"
sys.path.insert(0, str(APPS))  # the fault tests' small services (also run as processes)


@pytest.fixture(scope="session")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """A RabbitMQ node of this run's own, so restarting it disturbs nobody else."""
    broker = PrivateBroker(tmp_path_factory.mktemp("rabbit"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
