"""The spend report's period, paging and sums against a loopback HTTP server; against the real LiteLLM and its spend
logs: tests/integration/database/test_spend.py."""

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import loopback
import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_budgets import Gateway
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_spend import SpendError, spend, window

NOW = datetime(2026, 12, 6, 12, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"period": "30d"}, ("2026-11-06 12:30:00", "2026-12-06 12:30:00")),
        ({"period": "12h"}, ("2026-12-06 00:30:00", "2026-12-06 12:30:00")),
        ({"period": "1mo"}, ("2026-11-06 12:30:00", "2026-12-06 12:30:00")),
        ({"period": "1w", "end": "2026-12-01"}, ("2026-11-24 23:59:59", "2026-12-01 23:59:59")),
        ({"start": "2026-11-01", "end": "2026-11-30"}, ("2026-11-01 00:00:00", "2026-11-30 23:59:59")),
        ({"start": "2026-11-01 08:00:00", "period": "ignored"}, ("2026-11-01 08:00:00", "2026-12-06 12:30:00")),
    ],
)
def test_the_window(args, expected):
    begin, stop = window(now=NOW, **args)
    assert (f"{begin:%Y-%m-%d %H:%M:%S}", f"{stop:%Y-%m-%d %H:%M:%S}") == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"period": "30"}, "period must be a number and a unit"),
        ({"period": "0d"}, "period must be a number and a unit"),
        ({"period": None}, "period must be a number and a unit"),
        ({"start": "01/11/2026"}, "start must be YYYY-MM-DD"),
        ({"period": "1d", "end": "tomorrow"}, "end must be YYYY-MM-DD"),
        ({"start": "2026-12-02", "end": "2026-12-01"}, "the period starts (2026-12-02 00:00:00) after it ends"),
    ],
)
def test_bad_input_is_named(args, message):
    with pytest.raises(SpendError) as error:
        window(now=NOW, **args)
    assert message in str(error.value)


def _log(n, user, end_user=None, team=None, model="m", spend=1.0):
    return {"request_id": f"r{n}", "user": user, "end_user": end_user, "team_id": team, "model_group": model,
            "spend": spend}  # fmt: skip


def test_every_page_is_read_and_a_log_seen_twice_counts_once():
    logs = [_log(n, "motoko", "motoko/alice" if n % 2 else None, None, "a", 0.5) for n in range(1500)]
    logs += [_log(1500, "batou", None, "research", "b", 2.0), _log(1501, None, None, None, "b", 1.0)]
    seen = []

    def answer(request):
        query = parse_qs(urlsplit(request.path).query)
        seen.append((urlsplit(request.path).path, query, request.headers["authorization"]))
        page, size = int(query["page"][0]), int(query["page_size"][0])
        data = logs[(page - 1) * size : page * size]
        if page == 2:
            data = [logs[999], *data]  # a log written meanwhile shifted the pages
        body = {"data": data, "total": len(logs), "page": page, "page_size": size, "total_pages": -(-len(logs) // size)}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    with loopback.http_stub(answer) as url:
        result = spend(Gateway(url, "sk-master"), start="2026-11-01", end="2026-11-30")
    assert [request[0] for request in seen] == ["/spend/logs/v2"] * 2
    assert seen[0][1]["start_date"] == ["2026-11-01 00:00:00"]
    assert seen[0][1]["end_date"] == ["2026-11-30 23:59:59"]
    assert {request[2] for request in seen} == {"Bearer sk-master"}
    report = result["spend"]
    assert (report["total"], report["requests"]) == (1500 * 0.5 + 3.0, 1502)
    assert report["clients"] == {"motoko": {"spend": 750.0, "requests": 1500}, "batou": {"spend": 2.0, "requests": 1}}
    assert report["users"] == {"motoko/alice": {"spend": 375.0, "requests": 750}}
    assert report["teams"] == {"research": {"spend": 2.0, "requests": 1}}
    assert report["models"] == {"a": {"spend": 750.0, "requests": 1500}, "b": {"spend": 3.0, "requests": 2}}
    assert result["report"][:4] == [
        "Spend from 2026-11-01 00:00 to 2026-11-30 23:59 UTC: 753.00 USD in 1502 requests",
        "clients:",
        "  motoko      750.00 USD    1500 requests",
        "  batou         2.00 USD       1 requests",
    ]


def test_an_answer_that_is_no_page_of_logs_is_named():
    with (
        loopback.http_stub(lambda request: (200, {}, b'{"detail": "nope"}')) as url,
        pytest.raises(SpendError, match=r"GET /spend/logs/v2: not a page of spend logs"),
    ):
        spend(Gateway(url, "sk-master"), period="1d")
