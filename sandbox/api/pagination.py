from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from sandbox.api.page_query import compiled_once
from sandbox.errors import ApplicationError


class CreatedCursorPagination(CursorPagination):
    """Keyset pagination, newest first: stable while rows are added, fast at any depth."""

    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        # A page's SQL is assembled once per shape of query (``sandbox.api.page_query``).
        return super().paginate_queryset(compiled_once(queryset), request, view)

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404; it is a bad parameter (400), as
        # the transaction history says too (wallets.selectors).
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ApplicationError(
                "This cursor is not valid: follow a list's next or previous link as given.",
                code="invalid_cursor",
                fields={"cursor": ["This cursor is not valid."]},
            ) from None


class OldestFirstCursorPagination(CreatedCursorPagination):
    """The same keyset, oldest first: for lists read in the order their rows were made."""

    ordering = ("created_at", "pk")
