"""The offline recipe of docs/identities.md ("Verifying offline") runs as written: this test
takes the Python block out of the docs and runs it, in another process, on a presentation
the sandbox made, with the issuer's JWKS as a file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import NodeFactory
from tests.identities.credentials_helpers import (
    courier_request,
    issue_delivery,
    present,
    verified_person,
)

pytestmark = pytest.mark.django_db

DOCS = Path(settings.BASE_DIR) / "docs" / "identities.md"


def recipe() -> str:
    text = DOCS.read_text()
    section = text[text.index("### Verifying offline") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run(tmp_path: Path, presentation: str, jwks: dict, aud: str, nonce: str):
    script = tmp_path / "verify_presentation.py"
    script.write_text(recipe())
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    (tmp_path / "presentation.txt").write_text(presentation)
    return subprocess.run(
        [
            sys.executable,
            str(script),
            (tmp_path / "jwks.json").as_uri(),
            "presentation.txt",
            aud,
            nonce,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_docs_recipe_verifies_a_courier_presentation_offline(alice, anonymous, tmp_path):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person)
    request = courier_request(alice, courier)
    made = present(alice, credential["id"], request)["presentation"]
    jwks = anonymous.get("/jwks/issuer.json").json()

    done = run(tmp_path, made, jwks, request["audience"], request["nonce"])

    assert done.returncode == 0, done.stderr
    claims = json.loads(done.stdout)
    assert claims["recipient_matches_delivery_address"] is True
    assert claims["order_id"] == "ORD-1"
    assert claims["address"]["locality"] == "서울특별시 강남구"
    assert "name" not in claims

    wrong = run(tmp_path, made, jwks, request["audience"], "another-nonce")
    assert wrong.returncode != 0 and "Invalid nonce" in wrong.stderr
