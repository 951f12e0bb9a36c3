"""The API's one pagination contract: keyset cursors, as DRF's ``CursorPagination`` makes
them, links and all.

A page is cut exactly as DRF cuts it (``paginate``: the same ordering, the same position
and offset, one row more than the page to know whether another follows); only where the
rows come from differs. A queryset's page takes its SQL from the shape cache
(``sandbox.api.page_query.compiled_once``); a list whose rows are a ``Scope`` (a tenant's
rows of a model, say) is read without building a queryset at all once its shape is known
(``page_query.scoped_page``). The links' base, the request's absolute URL, is built only
when a link is: most lists fit in one page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, _reverse_ordering

from sandbox.api.page_query import Scope, compiled_once, scoped_page
from sandbox.errors import ApplicationError

# A page's rows: (ordering, position lookup and value or None, offset, how many).
Fetch = Callable[[tuple[str, ...], tuple[str, str] | None, int, int], list[Any]]


class CreatedCursorPagination(CursorPagination):
    """Keyset pagination, newest first: stable while rows are added, fast at any depth."""

    ordering: tuple[str, ...] = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        # A page's SQL is assembled once per shape of query (``sandbox.api.page_query``).
        queryset = compiled_once(queryset)

        def fetch(
            ordering: tuple[str, ...], position: tuple[str, str] | None, offset: int, count: int
        ) -> list[Any]:
            page = queryset.order_by(*ordering)  # as DRF: order, then position, then slice
            if position is not None:
                page = page.filter(**{position[0]: position[1]})
            return list(page[offset : offset + count])

        return self.paginate(request, view, queryset, fetch)

    def paginate_scope(self, scope: Scope, request, view=None) -> list[Any] | None:
        """``paginate_queryset`` for the rows of ``scope``: the same page, the same links."""

        def fetch(
            ordering: tuple[str, ...], position: tuple[str, str] | None, offset: int, count: int
        ) -> list[Any]:
            return scoped_page(scope, ordering, position, offset, count)

        return self.paginate(request, view, None, fetch)

    def paginate(self, request, view, queryset, fetch: Fetch) -> list[Any] | None:
        # DRF's ``CursorPagination.paginate_queryset`` (3.x), step for step, with the rows
        # from ``fetch`` and the links' base left for ``base_url`` to build when asked.
        self.request = request
        page_size: Any = self.get_page_size(request)
        self.page_size = page_size
        if not page_size:
            return None
        self._base_url = None
        self.ordering = self.get_ordering(request, queryset, view)
        cursor: Any = self.decode_cursor(request)
        self.cursor = cursor
        offset, reverse, current_position = (0, False, None) if cursor is None else cursor
        ordering: tuple[str, ...] = self.ordering
        if reverse:
            ordering = tuple(_reverse_ordering(ordering))
        position = None
        if current_position is not None:
            order = self.ordering[0]
            is_reversed = order.startswith("-")
            order_attr = order.lstrip("-")
            # (cursor reversed) XOR (ordering reversed)
            lookup = "__lt" if cursor.reverse != is_reversed else "__gt"
            position = (order_attr + lookup, current_position)
        results = fetch(ordering, position, offset, page_size + 1)
        self.page = list(results[:page_size])
        following_position: Any = None
        has_following_position = len(results) > len(self.page)
        if has_following_position:
            following_position = self._get_position_from_instance(results[-1], self.ordering)
        if reverse:
            # The rows came in reverse: the page reads in the list's order again.
            self.page = list(reversed(self.page))
            self.has_next = (current_position is not None) or (offset > 0)
            self.has_previous = has_following_position
            if self.has_next:
                self.next_position = current_position
            if self.has_previous:
                self.previous_position = following_position
        else:
            self.has_next = has_following_position
            self.has_previous = (current_position is not None) or (offset > 0)
            if self.has_next:
                self.next_position = following_position
            if self.has_previous:
                self.previous_position = current_position
        if (self.has_previous or self.has_next) and self.template is not None:
            self.display_page_controls = True
        return self.page

    _base_url: str | None = None

    @property
    def base_url(self) -> str:
        # What DRF's ``paginate_queryset`` sets up front: only links need it.
        url = self._base_url
        if url is None:
            url = self._base_url = self.request.build_absolute_uri()
        return url

    @base_url.setter
    def base_url(self, url: str) -> None:  # as DRF's own ``paginate_queryset`` does
        self._base_url = url

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404; it is a bad parameter (400), as
        # the transaction history says too (wallets.selectors).
        # A position that is not a time (every ordering here is by a time, then the id)
        # is refused here too: the database would fail on it, a 500.
        try:
            cursor = super().decode_cursor(request)
            position = cursor.position if cursor is not None else None
            if position is not None and parse_datetime(position) is None:
                raise NotFound
        except (NotFound, ValueError):
            raise ApplicationError(
                "This cursor is not valid: follow a list's next or previous link as given.",
                code="invalid_cursor",
                fields={"cursor": ["This cursor is not valid."]},
            ) from None
        return cursor


class OldestFirstCursorPagination(CreatedCursorPagination):
    """The same keyset, oldest first: for lists read in the order their rows were made."""

    ordering = ("created_at", "pk")
