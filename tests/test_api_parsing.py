"""The API's JSON parser and parser choice (``sandbox.api.parsers``, ``sandbox.api.views``)
take a shorter path than DRF's: they answer exactly as DRF's would, data and errors."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework import parsers as drf_parsers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.test import APIClient

from sandbox.api.parsers import JSONParser
from sandbox.api.views import DeclaredQueryNegotiation
from tests.factories import TenantFactory, api_key_for

BODIES = [
    b'{"amount": "1.00", "currency": "KRW", "memo": "caf\xc3\xa9 \xf0\x9f\x99\x82"}',
    b'[1, 2.5, null, true, {"a": []}]',
    b'{"a": "x"}\xe2\x82',  # an incomplete UTF-8 sequence at the end: DRF leaves it out
    b'{"a": "\xff"}',  # not UTF-8
    b"\xef\xbb\xbf{}",  # a byte order mark
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1,}',
    b"",
    b"   ",
    b'{"a": "\\ud800"}',
    b'"\\u0000"',
]


def parsed(parser: drf_parsers.BaseParser, body: bytes, encoding: str | None) -> Any:
    context = {} if encoding is None else {"encoding": encoding}
    try:
        return ("data", parser.parse(io.BytesIO(body), "application/json", context))
    except ParseError as error:
        return ("error", str(error.detail))


@pytest.mark.parametrize("encoding", [None, "utf-8", "UTF-8", "utf8", "latin-1", "utf-16"])
@pytest.mark.parametrize("body", BODIES)
def test_it_parses_every_body_as_drfs_parser_does(body, encoding):
    assert parsed(JSONParser(), body, encoding) == parsed(drf_parsers.JSONParser(), body, encoding)


@pytest.mark.parametrize("encoding", [None, "latin-1"])
def test_it_refuses_json_nested_too_deeply_where_drfs_parser_crashes(encoding):
    body = b"[" * 100_000 + b"]" * 100_000
    assert parsed(JSONParser(), body, encoding) == (
        "error",
        "JSON parse error - nested too deeply.",
    )


@pytest.mark.django_db
def test_a_transfer_nested_too_deeply_is_a_400_parse_error():
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(TenantFactory())}")
    response = api.post(
        "/api/v1/transfers", data="[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_it_refuses_a_charset_that_is_not_text_as_drf_does():
    assert parsed(JSONParser(), b"{}", "bz2_codec") == parsed(
        drf_parsers.JSONParser(), b"{}", "bz2_codec"
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json-patch+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "application/" + "x" * 300,
    ],
)
def test_it_chooses_the_parser_drf_would(content_type):
    request = SimpleNamespace(content_type=content_type)
    parsers = [JSONParser()]
    chosen = DeclaredQueryNegotiation().select_parser(request, parsers)
    assert chosen is DefaultContentNegotiation().select_parser(request, parsers)
