"""The API's JSON parser: DRF's, by a shorter path for the body almost every request sends.

DRF's ``JSONParser`` wraps the body in a ``codecs`` stream reader and has ``json.load``
read it back; for UTF-8 (the default charset, and what every client sends) this parser
decodes the bytes with the very function that reader calls, the same way (an incomplete
sequence at the end is left out, as the reader leaves it), and parses the text with the
same options: the same data, and the same ``ParseError`` text for a body that is not
JSON. Any other charset goes to DRF's own path. It matters on the money path, where a
request's whole CPU is about 1.5 ms (``bench/request_profile.py``).
"""

from __future__ import annotations

import codecs
import functools
import json
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant


@functools.cache
def _is_utf_8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except (LookupError, TypeError):
        return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            if not _is_utf_8(encoding):  # DRF checks it, and decodes with it
                return super().parse(stream, media_type, parser_context)
            # ``codecs.getreader("utf-8")`` decodes with ``utf_8_decode(data, "strict")``,
            # not final: a trailing incomplete sequence is dropped, not refused.
            text = codecs.utf_8_decode(stream.read(), "strict", False)[0]
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # arrays or objects nested some thousand deep: DRF's 500
            raise ParseError("JSON parse error - nested too deeply.") from None
