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
   a plain ``ApiView``. A list that keeps DRF's generic steps as they are answers its GET
   on a path planned once per class (``ListApiView``): declare the model or
   ``get_queryset``, the output serializer and the paginator, nothing else. Tenant
   endpoints derive from ``sandbox.tenants.api.TenantScopedView`` (``self.tenant``,
   ``self.actor``); operator endpoints from ``ApiView`` with
   ``permission_classes = [IsOperator]``.
5. **Query parameters.** A view that reads query parameters declares them once, as its
   nested ``FilterSerializer`` (field types and help texts). That one declaration is both the
   documented query parameters (``SandboxAutoSchema`` reads it) and the parameters the view
   accepts: ``ApiView`` checks every GET with ``check_query`` before the handler runs, and
   refuses a NUL character (400 ``null_characters_not_allowed``), an unknown parameter
   (400 ``parameter_unknown``, naming the known ones) or an empty or ``null`` value (400
   ``invalid_parameter``), each naming the field. A paginated list knows its paginator's
   ``cursor`` and ``limit`` too. A view without a ``FilterSerializer`` (and no paginator)
   accepts no query parameter. The values themselves are still judged by the view or its
   selector.
6. **Description.** The handler's docstring, or else the view class's own, is the
   operation's public description in the API docs: write it for clients. Docstrings of
   base classes never reach the schema (``SandboxAutoSchema.get_description``).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import APISettings
from rest_framework.views import APIView

from sandbox.api import representation
from sandbox.api.page_query import Scope
from sandbox.api.pagination import CreatedCursorPagination
from sandbox.errors import ApplicationError
from sandbox.throttles import give_back

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
QUERY_METHODS = frozenset({"GET", "HEAD"})


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


def pagination_parameters(view: APIView) -> frozenset[str]:
    """The query parameters of a view's paginator (``cursor``, ``limit``), if it paginates."""
    pagination_class = getattr(view, "pagination_class", None)
    if not isinstance(view, GenericAPIView) or pagination_class is None:
        return frozenset()
    names = (
        getattr(pagination_class, "cursor_query_param", None),
        getattr(pagination_class, "page_size_query_param", None),
    )
    return frozenset(name for name in names if name)


def known_parameters(view: APIView) -> frozenset[str]:
    """The query parameters a view accepts: its ``FilterSerializer``'s fields and its
    paginator's. The schema documents exactly these (``SandboxAutoSchema``)."""
    return declared_fields(getattr(view, "FilterSerializer", None)) | pagination_parameters(view)


NULL_CHARACTERS = "Null characters are not allowed."
NULL_CHARACTERS_CODE = "null_characters_not_allowed"


def check_query(query: QueryDict, known: frozenset[str]) -> None:
    """The one gate of every list filter: 400 ``null_characters_not_allowed`` for a NUL
    character in a name or value (PostgreSQL cannot compare it; the code bodies answer
    too), 400 ``parameter_unknown`` for a parameter outside ``known`` (listing the known
    ones), 400 ``invalid_parameter`` for an empty or ``null`` value (a parameter given is
    a value asked for). Each names the field."""
    # NUL first: a name or value PostgreSQL could not even compare.
    for name in query:
        for value in [name, *query.getlist(name)]:
            if "\x00" in value:
                raise ApplicationError(
                    f"The query parameter {name!r} contains a null character.",
                    code=NULL_CHARACTERS_CODE,
                    fields={name: [NULL_CHARACTERS]},
                )
    unknown = sorted(name for name in query if name not in known)
    if unknown:
        listed = ", ".join(sorted(known)) if known else "none"
        raise ApplicationError(
            f"Unknown query parameter(s): {', '.join(unknown)}. Known parameters: {listed}.",
            code="parameter_unknown",
            fields={name[:100]: [f"Unknown parameter; known: {listed}."] for name in unknown},
        )
    for name in query:
        for value in query.getlist(name):
            if value == "" or value == "null":
                raise ApplicationError(
                    f"The query parameter {name} needs a value; leave it out instead.",
                    code="invalid_parameter",
                    fields={name: ["A value is required (not empty, not null)."]},
                )


# DRF's settings with its ``?format=`` override off (typed loosely: the stubs know no key).
NO_FORMAT_OVERRIDE: Any = APISettings(user_settings=cast(Any, {"URL_FORMAT_OVERRIDE": None}))


class DeclaredQueryNegotiation(DefaultContentNegotiation):
    # DRF's ``?format=`` override off: the query string holds declared parameters only
    # (a view that wants ``format`` declares it), and no undeclared one answers 404.
    settings = NO_FORMAT_OVERRIDE

    def select_renderer(self, request, renderers, format_suffix=None):
        # A client that accepts anything (no Accept header, as most API clients send, or
        # ``*/*``) gets the first renderer in its own media type: DRF's answer, without
        # parsing and ranking an Accept list per request. Anything else asks DRF.
        if renderers and format_suffix is None and request.META.get("HTTP_ACCEPT", "*/*") == "*/*":
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

    def select_parser(self, request, parsers):
        # A body sent as exactly ``application/json`` (as nearly every client sends it)
        # goes to the first parser of that very type, as DRF's matching would choose,
        # without parsing both media types per request. Anything else asks DRF.
        if (
            parsers
            and parsers[0].media_type == "application/json"
            and request.content_type == "application/json"
        ):
            return parsers[0]
        return super().select_parser(request, parsers)


class ApiView(APIView):
    """The base of every API view (see the module's docstring)."""

    InputSerializer: ClassVar[type[serializers.Serializer] | None] = None
    FilterSerializer: ClassVar[type[serializers.Serializer] | None] = None
    content_negotiation_class = DeclaredQueryNegotiation
    gives_back_counts = True  # see ``check_permissions``

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in BODY_METHODS and isinstance(request.data, Mapping):
            # A body that is not an object is the handler's to refuse, in its own words.
            refuse_unknown(request.data, declared_fields(self.InputSerializer))
        if request.method in QUERY_METHODS:
            check_query(request.query_params, known_parameters(self))

    def get_throttles(self) -> list[Any]:
        # Asked twice a request (the key's admission counts the request in them, then DRF's
        # check reads the outcome): built once per request, as the view is.
        throttles: list[Any] | None = self.__dict__.get("_throttles")
        if throttles is None:
            throttles = self._throttles = super().get_throttles()
        return throttles

    def check_permissions(self, request: Request) -> None:
        try:
            super().check_permissions(request)
        except Exception:
            # The key's lookup may have counted the request in its limits already
            # (``sandbox.throttles.admit``): a refused request counts in none.
            give_back(request)
            raise

    def validated_input(self, *, partial: bool = False) -> dict[str, Any]:
        """The body, validated by the view's ``InputSerializer`` (400 when it is not)."""
        assert self.InputSerializer is not None, f"{type(self).__name__} declares no input"
        serializer = self.InputSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ListApiView(ApiView, ListAPIView):
    """A paginated list (DRF's ``ListAPIView``) that follows the same rules.

    A plain list (``plain_list``: DRF's generic steps as they are, no filter backend, a
    ``CreatedCursorPagination``) answers its GET on a path planned once per class: the
    page cut by the paginator as DRF cuts it, from a ``Scope`` if ``planned_scope`` gives
    one (no queryset then), and rendered straight from the serializer's plan where it
    has one (``page_renderer``), else by the serializer. The same page, the same bytes,
    the same links as DRF's ``list``."""

    def planned_scope(self) -> Scope | None:
        """The list's rows as a ``Scope`` (see ``sandbox.api.page_query``), when its
        queryset is one; None: ``get_queryset``."""
        return None

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not plain_list(type(self)):
            return super().list(request, *args, **kwargs)
        paginator = cast(CreatedCursorPagination, self.paginator)
        scope = self.planned_scope()
        if scope is not None:
            page = paginator.paginate_scope(scope, request, view=self)
        else:
            page = paginator.paginate_queryset(self.get_queryset(), request, view=self)
        if page is None:  # no page size after all: DRF's unpaginated answer
            return super().list(request, *args, **kwargs)
        render = page_renderer(cast(Any, self.serializer_class))
        data = None if render is None else render(page)
        if data is None:
            data = self.get_serializer(page, many=True).data
        return paginator.get_paginated_response(data)


# The steps of DRF's ``ListModelMixin.list`` that a planned list takes as DRF has them.
GENERIC_STEPS = (
    "get_serializer",
    "get_serializer_class",
    "get_serializer_context",
    "filter_queryset",
    "paginate_queryset",
    "get_paginated_response",
    "paginator",
)

PageRenderer = Callable[[list[Any]], list[dict[str, Any]] | None]


@functools.cache
def plain_list(view_class: type[ListApiView]) -> bool:
    """Whether a list's GET is DRF's generic steps as they are, with no filter backend
    and a ``CreatedCursorPagination`` (see ``ListApiView``)."""
    if any(getattr(view_class, s) is not getattr(GenericAPIView, s) for s in GENERIC_STEPS):
        return False
    pagination_class = view_class.pagination_class
    return (
        not view_class.filter_backends
        and pagination_class is not None
        and issubclass(pagination_class, CreatedCursorPagination)
    )


@functools.cache
def page_renderer(serializer_class: Any) -> PageRenderer | None:
    """How a plain list's page becomes its ``results`` with ``serializer_class`` (what
    ``serializer_class(page, many=True).data`` answers), planned once per class; None:
    the serializer renders it. The renderer itself answers None for a page it cannot
    render (rows of another model): the serializer renders that one."""
    if serializer_class is None or not isinstance(serializer_class, type):
        return None
    if getattr(getattr(serializer_class, "Meta", None), "list_serializer_class", None):
        return None  # a list of its own
    many_init = serializer_class.many_init.__func__  # type: ignore[attr-defined]
    if many_init is not serializers.BaseSerializer.many_init.__func__:  # type: ignore[attr-defined]
        return None
    if (
        issubclass(serializer_class, PresenterSerializer)
        and serializer_class.to_representation is PresenterSerializer.to_representation
        and isinstance(inspect.getattr_static(serializer_class, "present"), staticmethod)
    ):
        present = serializer_class.present
        return lambda page: [present(instance) for instance in page]
    if (
        issubclass(serializer_class, OutputModelSerializer)
        and serializer_class.to_representation is OutputModelSerializer.to_representation
    ):
        plan = serializer_class.representation_plan()
        if plan.columns_only:
            model = plan.model
            return lambda page: (
                representation.rows(plan, page)
                if all(isinstance(instance, model) for instance in page)
                else None
            )
    return None


class FieldsBuiltOnce(serializers.Serializer):
    # Builds a serializer class's fields once, not per instance: a ModelSerializer
    # rebuilds every field from the model on each use (a 250-choice country field each
    # time), which cost more than the rest of a list request. Each instance still gets
    # fields of its own to bind (shallow copies; what they share, such as choices, is
    # only read), and nested serializers are copied in full, as DRF does.
    # No docstring: a serializer's docstring becomes its schema component's description.

    _fields_built: ClassVar[dict[str, serializers.Field] | None] = None

    def get_fields(self) -> dict[str, serializers.Field]:
        built = type(self).__dict__.get("_fields_built")  # this very class's, not a base's
        if built is None:
            built = super().get_fields()
            type(self)._fields_built = built
        return {
            name: copy.deepcopy(field)
            if isinstance(field, serializers.BaseSerializer)
            else copy.copy(field)
            for name, field in built.items()
        }


class OutputModelSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    # A ModelSerializer for answers (see ``FieldsBuiltOnce``): for objects nobody else
    # renders; objects with a presenter use a ``PresenterSerializer``. Its answer reads the
    # model's columns through readers resolved once per class (``sandbox.api.representation``).

    _plan: ClassVar[representation.Plan | None] = None

    @classmethod
    def representation_plan(cls) -> representation.Plan:
        plan = cls.__dict__.get("_plan")  # this very class's, not a base's
        if plan is None:
            plan = cls._plan = representation.build_plan(cls)
        return plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self.representation_plan()
        if not isinstance(instance, plan.model):
            return super().to_representation(instance)
        return representation.represent(self, plan, instance)


# No docstring: a serializer's docstring becomes its schema component's description.
class PresenterSerializer(serializers.Serializer):
    # An output serializer that renders through a presenter function (``present``): its
    # fields document the presenter's dict for OpenAPI, the presenter alone builds it.

    @staticmethod
    def present(instance: Any) -> dict[str, Any]:
        raise NotImplementedError

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return self.present(instance)
