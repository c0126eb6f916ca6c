"""Every report by name: the API, exports, charts and the dashboard all use this table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from analytics.esf import esf_report
from analytics.network import network_report
from analytics.periods import Period
from analytics.projections import Db
from analytics.reports import Report
from analytics.scope import Scope
from analytics.usage import usage_report
from analytics.utilisation import utilisation_report

Builder = Callable[..., Awaitable[Report]]

REPORTS: dict[str, Builder] = {
    "esf": esf_report,
    "usage": usage_report,
    "utilisation": utilisation_report,
    "network": network_report,
}


async def build(
    name: str, db: Db, *, scope: Scope, period: Period, threshold: int, tz: str
) -> Report:
    return await REPORTS[name](db, scope=scope, period=period, threshold=threshold, tz=tz)
