"""One error shape everywhere, request ids, OpenAPI docs, and the bench endpoint gate."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import structlog

from kasparro.api.app import create_app
from kasparro.api.config import ApiConfig
from kasparro.timetext import INSTANT_MESSAGE, INSTANT_PATTERN
from tests.fixtures.api import make_settings, running_app
from tests.fixtures.settings import runtime_for

ERROR_KEYS = {"code", "message", "details", "request_id"}


def _assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == resp.headers["x-request-id"]
    return body["error"]


async def test_404_405_422_shapes(api_client: httpx.AsyncClient) -> None:
    _assert_error(await api_client.get("/api/v2/data"), 404, "not_found")
    err = _assert_error(await api_client.delete("/api/v1/data"), 405, "method_not_allowed")
    assert "GET" in str(err["message"])
    _assert_error(await api_client.put("/api/v1/runs", json={}), 405, "method_not_allowed")
    _assert_error(await api_client.get("/api/v1/runs/abc"), 422, "validation_error")
    _assert_error(
        await api_client.get("/api/v1/stats", params={"window": 0}), 422, "validation_error"
    )
    _assert_error(await api_client.get("/health", params={"verbose": 1}), 422, "validation_error")
    _assert_error(await api_client.get("/metrics", params={"x": 1}), 422, "validation_error")


async def test_500_is_json_with_request_id(tmp_path: Path, db_url: str) -> None:
    app = create_app(runtime_for(make_settings(db_url, tmp_path)))

    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with structlog.testing.capture_logs() as logs:
                resp = await client.get("/boom", headers={"X-Request-ID": "trace-500"})
    err = _assert_error(resp, 500, "internal_error")
    assert err["request_id"] == "trace-500"
    assert "secret internals" not in resp.text
    # ...but the operator gets the exception, tied to the same request id.
    (event,) = [e for e in logs if e["event"] == "unhandled_error"]
    assert event["request_id"] == "trace-500" and event["error"] == "RuntimeError"
    assert event["exc_info"] is True


async def test_request_id_is_accepted_sanitized_or_generated(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.get("/health", headers={"X-Request-ID": "client-abc_123:7"})
    assert resp.headers["x-request-id"] == "client-abc_123:7"
    assert resp.json()["request_id"] == "client-abc_123:7"
    dirty = await api_client.get(
        "/api/v1/runs", headers={"X-Request-ID": 'a b<script>"x"' + "z" * 300}
    )
    rid = dirty.headers["x-request-id"]
    assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", rid) and rid.startswith("abscriptx")
    assert dirty.json()["meta"]["request_id"] == rid
    for headers in ({}, {"X-Request-ID": "<<>>"}):
        generated = (await api_client.get("/health", headers=headers)).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)


async def test_openapi_documents_every_endpoint_with_examples(
    api_client: httpx.AsyncClient,
) -> None:
    spec = (await api_client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/data",
        "/api/v1/assets",
        "/api/v1/assets/{asset_id}",
        "/api/v1/assets/{asset_id}/history",
        "/api/v1/stats",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/compare",
        "/api/v1/trigger-etl",
        "/health",
        "/metrics",
    ):
        assert path in paths, path
    assert "post" in paths["/api/v1/runs"] and "get" in paths["/api/v1/runs"]
    assert not any("_bench" in p for p in paths)
    data = paths["/api/v1/data"]["get"]
    params = {p["name"]: p for p in data["parameters"]}
    assert set(params) == {
        "symbol",
        "asset_id",
        "source",
        "since",
        "until",
        "limit",
        "cursor",
        "latest",
        "sort",
        "order",
    }
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "default": 100,
    }
    assert "-price_usd" in params["sort"]["schema"]["enum"]
    assert params["symbol"]["schema"]["type"] == "array"
    assert "422" in data["responses"]
    schemas = spec["components"]["schemas"]
    assert schemas["DataResponse"]["examples"][0]["data"][0]["price_usd"] == "63012.55"
    assert "plain notation" in schemas["Observation"]["properties"]["price_usd"]["description"]
    assert schemas["ErrorResponse"]["examples"]
    trigger = paths["/api/v1/runs"]["post"]
    assert {"401", "403", "409", "422", "429"} <= set(trigger["responses"])
    assert trigger["security"] == [{"KasparroToken": []}]
    assert "cron" in paths["/api/v1/trigger-etl"]["get"]["description"]
    docs = await api_client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.parametrize("enabled", [False, True])
async def test_bench_endpoint_only_when_enabled(
    db_url: str, tmp_path: Path, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KASPARRO_BENCH_ENDPOINTS", "1" if enabled else "0")
    monkeypatch.setenv("KASPARRO_BENCH_CONSTANT_BYTES", "1000")
    settings = make_settings(db_url, tmp_path)
    async with running_app(settings, config=ApiConfig.from_settings(settings)) as client:
        resp = await client.get("/api/v1/_bench/constant")
        if not enabled:
            assert resp.status_code == 404
            return
        assert resp.status_code == 200
        assert len(resp.content) == 1000 and resp.json()["data"].startswith("xxx")
        spec = (await client.get("/openapi.json")).json()
        assert not any("_bench" in p for p in spec["paths"])


def test_create_app_does_no_io(tmp_path: Path) -> None:
    # No engine, file or connection is created before the lifespan runs.
    url = f"sqlite+aiosqlite:///{tmp_path}/never-created.db"
    create_app(runtime_for(make_settings(url, tmp_path)))
    assert not (tmp_path / "never-created.db").exists()


async def test_docs_pages_load_everything_from_this_host(api_client: httpx.AsyncClient) -> None:
    # FastAPI's pages load Swagger UI and ReDoc from a CDN: blank offline (the browser test,
    # tests/browser/test_docs_offline.py, renders them with every other host blocked).
    for path, assets in [
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")),
        ("/redoc", ("redoc.standalone.js", "favicon.png")),
    ]:
        resp = await api_client.get(path)
        assert resp.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
        assert sorted(urls) == sorted(f"/docs/assets/{a}" for a in assets)
        assert "://" not in resp.text  # nothing absolute, hence nothing from elsewhere
        # The browser may fetch nothing from another host either (ReDoc's footer logo is
        # addressed to cdn.redoc.ly inside its bundle).
        csp = resp.headers["content-security-policy"]
        policy = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert policy["default-src"] == policy["connect-src"] == "'self'"
        assert policy["img-src"] == "'self' data:"
        assert all(src.startswith("'") for src in policy["script-src"].split())  # no host
        for asset in assets:
            served = await api_client.get(f"/docs/assets/{asset}")
            assert served.status_code == 200 and len(served.content) > 1000
    bundle = (await api_client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in bundle
    assert (await api_client.get("/docs/assets/nope.js")).json()["error"]["code"] == "not_found"


async def test_every_time_parameter_says_what_it_takes_in_words(
    api_client: httpx.AsyncClient,
) -> None:
    """Whichever route parses it (a QuerySpec, FastAPI's pattern check), a time query
    parameter that is not a documented form is told the same sentence, not the pattern."""
    schema = (await api_client.get("/openapi.json")).json()
    checked = []
    for path, item in schema["paths"].items():
        get = item.get("get")
        if get is None:
            continue
        for param in get.get("parameters", []):
            kinds = [param.get("schema", {}), *param.get("schema", {}).get("anyOf", [])]
            if param["in"] != "query" or INSTANT_PATTERN not in {k.get("pattern") for k in kinds}:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            resp = await api_client.get(url, params={param["name"]: "yesterday"})
            err = _assert_error(resp, 422, "validation_error")
            mine = [d for d in err["details"] if d["loc"] == f"query.{param['name']}"]  # type: ignore[attr-defined]
            assert [(d["message"], d["type"]) for d in mine] == [
                (INSTANT_MESSAGE, "datetime_parsing")
            ], (path, param["name"], err)
            # A documented form whose offset leaves the years 1..9999 in UTC: a 422 too, never
            # a 500 (it was one on /data).
            resp = await api_client.get(url, params={param["name"]: "0001-01-01T00:00:00+05:00"})
            err = _assert_error(resp, 422, "validation_error")
            assert f"query.{param['name']}" in {d["loc"] for d in err["details"]}  # type: ignore[attr-defined]
            checked.append(path)
    # /data's own parser and FastAPI's pattern check (the reference-rate routes) both.
    assert {"/api/v1/data", "/api/v1/rates", "/api/v1/divergences"} <= set(checked)
