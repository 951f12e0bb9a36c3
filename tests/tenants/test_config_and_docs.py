"""Configuration fails loudly; the API documents itself without the internet."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from sandbox import config


@pytest.mark.parametrize(
    "helper,value",
    [
        (lambda: config.env_bool("SANDBOX_TEST_VALUE"), "maybe"),
        (lambda: config.env_int("SANDBOX_TEST_VALUE", 1), "ten"),
        (lambda: config.env_int("SANDBOX_TEST_VALUE", 1, minimum=0), "-1"),
        (lambda: config.env_choice("SANDBOX_TEST_VALUE", ("a", "b"), "a"), "c"),
        (lambda: config.env_time_zone("SANDBOX_TEST_VALUE", "Asia/Seoul"), "Asia/Busan"),
    ],
)
def test_bad_environment_values_fail_loudly(monkeypatch, helper, value):
    monkeypatch.setenv("SANDBOX_TEST_VALUE", value)
    with pytest.raises(ImproperlyConfigured, match="SANDBOX_TEST_VALUE"):
        helper()


def test_values_can_come_from_files(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SANDBOX_TEST_VALUE_FILE", str(secret))
    assert config.env_str("SANDBOX_TEST_VALUE") == "s3cret"


def test_a_missing_secret_file_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.setenv("SANDBOX_TEST_VALUE_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured):
        config.env_str("SANDBOX_TEST_VALUE")


def test_booleans_and_lists_parse(monkeypatch):
    monkeypatch.setenv("SANDBOX_TEST_VALUE", "Yes")
    assert config.env_bool("SANDBOX_TEST_VALUE") is True
    monkeypatch.setenv("SANDBOX_TEST_VALUE", "a.example, b.example,")
    assert config.env_list("SANDBOX_TEST_VALUE") == ["a.example", "b.example"]


@pytest.mark.django_db
def test_the_openapi_schema_and_its_viewers_are_served_locally(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert b"/api/v1/nodes" in schema.content

    swagger = client.get("/api/docs/")
    assert swagger.status_code == 200
    assert b"drf_spectacular_sidecar/swagger-ui-dist" in swagger.content  # no CDN
    redoc = client.get("/api/redoc/")
    assert b"drf_spectacular_sidecar/redoc" in redoc.content
