"""How an API view is written: one way, for every endpoint.

::

    class AccountLinkConfirmApi(TenantScopedView):
        class InputSerializer(serializers.Serializer):  # 1. the request body, declared once
            code = serializers.CharField(max_length=8)

        @extend_schema(responses=LinkOutput)  # 3. the response body
        def post(self, request: Request, link_id: str) -> Response:
            '''Wrong codes count; the fifth locks the link.'''  # 5. the public description
            link = AccountLink.objects.get_for_tenant(self.tenant, link_id)
            values = self.validated_input()  # 1.
            link = links.account_link_confirm(link=link, code=values["code"], ...)  # 2.
            return Response(presenters.link_json(link))  # 3.

1. **Input.** A view that takes a body declares it once, as its nested
   ``InputSerializer``. That one declaration is both the documented request body
   (``SandboxAutoSchema`` reads it: no ``extend_schema(request=...)``) and the keys the
   view accepts: ``ApiView`` refuses any other key with 400 ``unknown_field`` before the
   handler runs. A view without an ``InputSerializer`` accepts no key at all. The handler
   validates with it (``self.validated_input()``), except on the hot money paths
   (transfers, holds), where a serializer per item would cost more than the posting: there
   a hand parser in ``wallets.inputs`` checks the values, and the keys still come from the
   same declaration (``declared_fields``; a bulk request's items too).
2. **Work.** One call into a service (writes) or a selector (reads). A view holds no
   business rule.
3. **Output.** One representation per object: a presenter function (``wallets.presenters``,
   ``wallets.banknet.presenters``, ``sandbox.events.webhooks.event_as_json``), which
   webhooks, the dashboard and exports share, or a ``ModelSerializer`` for objects nobody
   else renders. The output serializer named in ``extend_schema(responses=...)`` documents
   exactly that shape; for a presenter it is a ``PresenterSerializer``, which renders
   through the presenter. Every operation documents its 2xx body, except 204s and file
   downloads (``tests/test_api_contract.py`` walks them all).
4. **Lists.** ``ListApiView`` (tenant endpoints: ``TenantScopedListView``), i.e. DRF's
   ``ListAPIView``, only where its cursor pagination adds something; every other endpoint is
   a plain ``ApiView``. Tenant endpoints derive from ``sandbox.tenants.api.TenantScopedView``
   (``self.tenant``, ``self.actor``); operator endpoints from ``ApiView`` with
   ``permission_classes = [IsOperator]``.
5. **Description.** The handler's docstring, or else the view class's own, is the
   operation's public description in the API docs: write it for clients. Docstrings of
   base classes never reach the schema (``SandboxAutoSchema.get_description``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.views import APIView

from sandbox.errors import ApplicationError

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@functools.cache
def declared_fields(serializer_class: type[serializers.BaseSerializer] | None) -> frozenset[str]:
    """The keys a declared input accepts: its serializer's fields (none without one)."""
    if serializer_class is None:
        return frozenset()
    serializer = serializer_class()
    assert isinstance(serializer, serializers.Serializer)
    return frozenset(serializer.fields)


def refuse_unknown(data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """400 ``unknown_field``, naming each key of ``data`` that ``allowed`` lacks."""
    if data.keys() <= allowed:  # every request asks: the cheapest test first
        return
    unknown = sorted(data.keys() - allowed)
    raise ApplicationError(
        f"Unknown field(s): {', '.join(unknown)}.",
        code="unknown_field",
        fields={name: ["Unknown field."] for name in unknown},
    )


class ApiView(APIView):
    """The base of every API view (see the module's docstring)."""

    InputSerializer: ClassVar[type[serializers.Serializer] | None] = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in BODY_METHODS and isinstance(request.data, Mapping):
            # A body that is not an object is the handler's to refuse, in its own words.
            refuse_unknown(request.data, declared_fields(self.InputSerializer))

    def validated_input(self, *, partial: bool = False) -> dict[str, Any]:
        """The body, validated by the view's ``InputSerializer`` (400 when it is not)."""
        assert self.InputSerializer is not None, f"{type(self).__name__} declares no input"
        serializer = self.InputSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ListApiView(ApiView, ListAPIView):
    """A paginated list (DRF's ``ListAPIView``) that follows the same rules."""


# No docstring: a serializer's docstring becomes its schema component's description.
class PresenterSerializer(serializers.Serializer):
    # An output serializer that renders through a presenter function (``present``): its
    # fields document the presenter's dict for OpenAPI, the presenter alone builds it.

    @staticmethod
    def present(instance: Any) -> dict[str, Any]:
        raise NotImplementedError

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return self.present(instance)
