from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Keyset pagination, newest first: stable while rows are added, fast at any depth."""

    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class OldestFirstCursorPagination(CreatedCursorPagination):
    """The same keyset, oldest first: for lists read in the order their rows were made."""

    ordering = ("created_at", "pk")
