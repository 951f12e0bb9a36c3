"""Small helpers shared by tests."""

from rest_framework.test import APIClient


def api_as(user) -> APIClient:
    """An API client logged in with ``user``'s session (as the dashboard's htmx calls are)."""
    client = APIClient()
    client.force_login(user)
    return client


def error_code(response) -> str:
    return response.json()["error"]["code"]
