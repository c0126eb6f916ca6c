"""The notifications service's parts, built by its factory (main.py) and kept with the
service: `svc.part(Parts).digest` (for tests and operators)."""

from __future__ import annotations

from dataclasses import dataclass

from notifications.digest import DigestLoop
from notifications.notifier import Notifier
from notifications.reminders import ReminderLoop
from notifications.sender import Sender
from notifications.templates import Templates


@dataclass(frozen=True)
class Parts:
    sender: Sender  # sends what is queued
    reminders: ReminderLoop  # queues reminders when they fall due
    digest: DigestLoop  # queues the staff digest once a day
    templates: Templates
    notifier: Notifier  # turns the events it is told of into queued notices
