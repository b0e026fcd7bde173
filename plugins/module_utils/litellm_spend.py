# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Spend per client, user, team and model over a period, from a LiteLLM gateway's spend logs (LiteLLM 1.106.2).

Internal to this collection (used by the tailnet.llm._litellm_spend module): the interfaces may change in any release.

LiteLLM's database mode logs every answer with its cost (`LiteLLM_SpendLogs`); /spend/logs/v2 (no enterprise licence
needed) gives them, paged, between two times, to the master key. Each log names whom the auth hook charged
(plugins/plugin_utils/budgets.py): `user` is the client host, `end_user` the user of a client (HOST/USER), `team_id`
its team; `model_group` is the model (or alias) the caller asked for. The aggregated report adds them up per each.
Only reads: GET requests with the master key in a header.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from ansible_collections.tailnet.llm.plugins.module_utils.litellm_budgets import BudgetsError

PAGE_SIZE = 1000  # the most /spend/logs/v2 gives in a page
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}  # LiteLLM's `1mo`: 30 days here
PERIOD = re.compile(r"^([0-9]+)(s|m|h|d|w|mo)$")
GROUPS = (("clients", "user"), ("users", "end_user"), ("teams", "team_id"), ("models", "model_group"))
FORMAT = "%Y-%m-%d %H:%M:%S"


class SpendError(BudgetsError):
    """Bad input or an unexpected answer, in one sentence."""


def _time(text, what, end=False):
    """A UTC time from YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS'; a bare date as END is the end of that day."""
    for fmt in (FORMAT, "%Y-%m-%d"):
        try:
            value = datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        return value + timedelta(days=1, seconds=-1) if end and fmt == "%Y-%m-%d" else value
    raise SpendError(f"{what} must be YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS', got {text!r}")


def window(period=None, start=None, end=None, now=None):
    """(start, end) as UTC datetimes: START..END when START is given (END: now by default), else the PERIOD
    (`30d`, `12h`, `1w`, `1mo` = 30 days) before END."""
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    stop = _time(end, "end", end=True) if end else now
    if start:
        begin = _time(start, "start")
    else:
        found = PERIOD.match(str(period or "").strip())
        if not found or int(found[1]) == 0:
            raise SpendError(f"period must be a number and a unit (s, m, h, d, w, mo), e.g. 30d, got {period!r}")
        begin = stop - timedelta(seconds=int(found[1]) * UNITS[found[2]])
    if begin > stop:
        raise SpendError(f"the period starts ({begin:{FORMAT}}) after it ends ({stop:{FORMAT}})")
    return begin, stop


def logs(gateway, begin, stop):
    """Every spend log between BEGIN and STOP, each once (by request_id: a log written while paging may shift the
    pages)."""
    seen, page, pages = {}, 1, 1
    while page <= pages:
        query = urlencode(
            {"start_date": f"{begin:{FORMAT}}", "end_date": f"{stop:{FORMAT}}", "page": page, "page_size": PAGE_SIZE}
        )
        answer = gateway.call("GET", f"/spend/logs/v2?{query}")
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            raise SpendError(f"GET /spend/logs/v2: not a page of spend logs: {str(answer)[:200]}")
        for row in answer["data"]:
            seen[row.get("request_id") or id(row)] = row
        pages = int(answer.get("total_pages") or 0)
        page += 1
    return list(seen.values())


def aggregate(rows):
    """{total, requests, clients, users, teams, models}: each group maps a name to {spend, requests}, the logs
    without one (a request of the master key, a caller of no team) left out of that group."""
    report = {"total": 0.0, "requests": 0, **{group: {} for group, _field in GROUPS}}
    for row in rows:
        spend = float(row.get("spend") or 0)
        report["total"] += spend
        report["requests"] += 1
        for group, field in GROUPS:
            name = row.get(field) or (row.get("model") if field == "model_group" else None)
            if name:
                entry = report[group].setdefault(name, {"spend": 0.0, "requests": 0})
                entry["spend"] += spend
                entry["requests"] += 1
    return report


def lines(report, begin, stop):
    """The report as text: the total, then each group, most spent first."""
    text = [
        f"Spend from {begin:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC: "
        f"{report['total']:.2f} USD in {report['requests']} requests"
    ]
    for group, _field in GROUPS:
        entries = sorted(report[group].items(), key=lambda item: (-item[1]["spend"], item[0]))
        text.append(f"{group}:" + ("" if entries else " none"))
        width = max((len(name) for name, _total in entries), default=0)
        text.extend(
            f"  {name:<{width}}  {entry['spend']:10.2f} USD  {entry['requests']:6d} requests" for name, entry in entries
        )
    return text


def spend(gateway, period=None, start=None, end=None):
    """The module's result: start, end, spend (aggregate) and report (lines)."""
    begin, stop = window(period, start, end)
    report = aggregate(logs(gateway, begin, stop))
    return {
        "start": f"{begin:{FORMAT}}",
        "end": f"{stop:{FORMAT}}",
        "spend": report,
        "report": lines(report, begin, stop),
    }
