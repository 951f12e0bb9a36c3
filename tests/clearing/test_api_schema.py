"""The clearing API's documented response bodies are what it answers: every key it sends
is documented, and every documented required key is sent."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from clearing import closing, records, settlement
from clearing.models import SettlementWindow
from tests.clearing.conftest import DAY
from tests.clearing.test_records import large  # noqa: F401
from tests.clearing.test_settlement import network, settled_day  # noqa: F401
from tests.factories import MembershipFactory, api_key_for

pytestmark = pytest.mark.django_db


@cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node or ("allOf" in node and len(node["allOf"]) == 1):
        if "$ref" in node:
            node = schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        else:
            node = node["allOf"][0]
    return node


def mismatches(value: Any, node: dict[str, Any], where: str = "") -> list[str]:
    node = resolve(node)
    if "oneOf" in node:
        tried = [mismatches(value, option, where) for option in node["oneOf"]]
        return [] if any(not t for t in tried) else [f"{where}: matches no oneOf"]
    if value is None:
        return [] if node.get("nullable") else [f"{where}: null, not documented nullable"]
    if node.get("type") == "array":
        return [p for i, item in enumerate(value) for p in mismatches(item, node["items"], where)]
    if node.get("type") == "object" and "properties" in node:
        documented = set(node["properties"])
        problems = [f"{where}.{k}: undocumented" for k in sorted(set(value) - documented)]
        missing = set(node.get("required", [])) - set(value)
        problems += [f"{where}.{k}: documented required, not sent" for k in sorted(missing)]
        for key in set(value) & documented:
            problems += mismatches(value[key], node["properties"][key], f"{where}.{key}")
        return problems
    return []


def check(response, path: str, method: str = "get", status: int = 200) -> None:
    assert response.status_code == status, response.content
    operation = schema()["paths"][path][method]
    body = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    assert mismatches(response.json(), body) == []


def test_days_proofs_chain_and_log_answer_as_documented(ledger, operator_api):
    txns = ledger.post(DAY, 3)
    closing.close_day(day=DAY, triggered_by="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(ledger.tenant)}")

    check(
        api.get(f"/api/v1/transactions/{txns[0].uuid}/proof"),
        "/api/v1/transactions/{transaction_id}/proof",
    )
    check(api.get("/api/v1/clearing/closes"), "/api/v1/clearing/closes")
    check(api.get(f"/api/v1/clearing/closes/{DAY}"), "/api/v1/clearing/closes/{day}")
    check(api.get("/api/v1/clearing/chain?format=json"), "/api/v1/clearing/chain")
    check(api.get("/api/v1/clearing/log"), "/api/v1/clearing/log")
    check(api.get("/api/v1/clearing/log?first=1"), "/api/v1/clearing/log")
    check(api.get("/api/v1/clearing/jobs"), "/api/v1/clearing/jobs")
    check(operator_api.get("/api/v1/operator/clearing/jobs"), "/api/v1/operator/clearing/jobs")


def test_settlement_answers_as_documented(settled_day, operator_api):  # noqa: F811
    settlement.settle_due()
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    node = settled_day.nodes["A"]

    check(operator_api.get("/api/v1/clearing/settlements"), "/api/v1/clearing/settlements")
    check(
        operator_api.get(f"/api/v1/clearing/settlements/{window.pk}"),
        "/api/v1/clearing/settlements/{window_id}",
    )
    check(operator_api.get("/api/v1/clearing/contracts"), "/api/v1/clearing/contracts")
    check(
        operator_api.put(
            f"/api/v1/operator/clearing/contracts/{node.pk}",
            {"cycle": "weekly", "net_debit_caps": {"KRW": "500"}},
            format="json",
        ),
        "/api/v1/operator/clearing/contracts/{node_id}",
        "put",
    )
    unsettled = SettlementWindow.objects.filter(status__in=["open", "closed"]).first()
    assert unsettled is not None
    check(
        operator_api.post(
            f"/api/v1/operator/clearing/settlements/{unsettled.pk}/abort",
            {"reason": "test"},
            format="json",
        ),
        "/api/v1/operator/clearing/settlements/{window_id}/abort",
        "post",
    )


def test_records_answer_as_documented(ledger, large, operator_api):  # noqa: F811
    records.anchor_large_transactions()
    big = large["big"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(ledger.tenant)}")

    check(
        api.get(f"/api/v1/transactions/{big.uuid}/record"),
        "/api/v1/transactions/{transaction_id}/record",
    )
    check(
        operator_api.get(f"/api/v1/operator/clearing/records/{big.uuid}"),
        "/api/v1/operator/clearing/records/{transaction_id}",
    )
    owner = APIClient()
    owner.force_login(MembershipFactory(tenant=ledger.tenant).user)
    check(
        owner.get(f"/api/v1/nodes/{ledger.seoul.pk}/record_key"),
        "/api/v1/nodes/{node_id}/record_key",
    )
    check(
        operator_api.get("/api/v1/operator/clearing/thresholds"),
        "/api/v1/operator/clearing/thresholds",
    )
