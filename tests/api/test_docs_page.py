"""What the docs page needs from the API: the requests "Try it out" really sends, an Authorize
button (a bearer security scheme), one real example per error status, and its assets served here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.api.train_helpers import AUTH, job_settings
from tests.conftest import SERVED_MODEL

SAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "samples"
BOUNDARY = "----WebKitFormBoundaryZ06jd75dU5ltbDLq"


def form(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body exactly as Chromium builds it from a form: (name, filename or None for text, data)."""
    chunks = []
    for name, filename, data in parts:
        if filename is None:
            header = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        else:
            kind = "image/png" if filename else "application/octet-stream"
            header = (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
            )
        chunks.append(f"--{BOUNDARY}\r\n{header}".encode() + data + b"\r\n")
    body = b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def sample(digit: int) -> bytes:
    return (SAMPLES / f"digit-{digit}.png").read_bytes()


@pytest.fixture
def docs_client(tmp_path: Path, fast_path: bool) -> Iterator[TestClient]:
    settings = job_settings(tmp_path / "state", model=SERVED_MODEL)
    with TestClient(create_app(settings, fast_path=fast_path)) as client:
        yield client


def test_one_file_with_the_placeholder_the_docs_page_sends_for_files(docs_client: TestClient) -> None:
    # Captured from Swagger UI 5: the unused `files` array goes out as the text `files=string`.
    body, headers = form(("file", "digit-7.png", sample(7)), ("files", None, b"string"))
    response = docs_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 7
    frame = docs_client.post("/predict/frame", content=body, headers=headers)
    assert frame.status_code == 200, frame.text
    assert frame.headers["content-type"] == "image/png"


def test_a_batch_with_the_empty_file_input_beside_it(docs_client: TestClient) -> None:
    body, headers = form(("file", "", b""), ("files", "digit-1.png", sample(1)), ("files", "digit-2.png", sample(2)))
    response = docs_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [1, 2]


def test_empty_text_fields_count_as_absent(docs_client: TestClient) -> None:
    body, headers = form(("file", "digit-3.png", sample(3)), ("files", None, b""))
    assert docs_client.post("/predict", content=body, headers=headers).json()["digit"] == 3
    body, headers = form(("file", None, b""), ("files", "digit-4.png", sample(4)))
    assert docs_client.post("/predict", content=body, headers=headers).json()["predictions"][0]["digit"] == 4
    # /predict/frame takes one image: a batch there is still refused.
    frame = docs_client.post("/predict/frame", content=body, headers=headers)
    assert frame.status_code == 422
    assert "one image" in frame.json()["detail"]


def test_nothing_but_empty_parts_is_a_missing_file(docs_client: TestClient) -> None:
    body, headers = form(("file", "", b""), ("files", None, b""))
    response = docs_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


def test_a_text_field_alone_is_still_refused(docs_client: TestClient) -> None:
    body, headers = form(("files", None, b"string"))
    response = docs_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == "`files`: expected a file upload, got a text field"


def test_real_uploads_under_both_names_form_one_batch(docs_client: TestClient) -> None:
    # As the schema says (issue 14): a `file` sent beside `files` joins the batch, in upload order.
    body, headers = form(("file", "a.png", sample(1)), ("files", "b.png", sample(2)))
    response = docs_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [1, 2]
    # /predict/frame takes one image: both there are refused.
    frame = docs_client.post("/predict/frame", content=body, headers=headers)
    assert frame.status_code == 422


def test_a_named_empty_file_is_still_an_empty_file(docs_client: TestClient) -> None:
    body, headers = form(("file", "e.png", b""))
    response = docs_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 400
    assert "empty file" in response.json()["detail"]


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def test_token_routes_declare_the_bearer_scheme(docs_client: TestClient) -> None:
    schema = docs_client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes == {
        "adminToken": {"type": "http", "scheme": "bearer", "description": schemes["adminToken"]["description"]}
    }
    secured = {(method, path) for method, path, op in _operations(schema) if op.get("security")}
    assert secured == {
        ("POST", "/train"),
        ("DELETE", "/train/{job_id}"),
        ("POST", "/models/{model_id}/activate"),
        ("DELETE", "/models/{model_id}"),
    }


def test_each_error_status_has_its_own_example(docs_client: TestClient) -> None:
    schema = docs_client.get("/openapi.json").json()
    seen: dict[str, set[str]] = {}
    for _, _, operation in _operations(schema):
        for status, response in operation["responses"].items():
            example = response.get("content", {}).get("application/json", {}).get("example")
            if status >= "400" and example is not None:
                seen.setdefault(status, set()).add(str(example["detail"]))
    assert {"400", "401", "404", "409", "413", "415", "422", "503", "507"} <= set(seen)
    # No example is shared between two statuses.
    owners: dict[str, str] = {}
    for status, details in seen.items():
        for detail in details:
            assert owners.setdefault(detail, status) == status, f"{status} and {owners[detail]} show {detail!r}"


def test_the_documented_examples_are_the_real_answers(docs_client: TestClient) -> None:
    schema = docs_client.get("/openapi.json").json()

    def example(path: str, method: str, status: int) -> Any:
        return schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["example"]

    assert docs_client.post("/train", json={"arch": "mlp"}).json() == example("/train", "post", 401)
    assert docs_client.post("/predict", content=b"hi", headers={"content-type": "text/plain"}).json() == example(
        "/predict", "post", 415
    )
    missing = docs_client.get("/train/c217c11568cf49539b5169586e6f2667")
    assert missing.json() == example("/train/{job_id}", "get", 404)
    bad = docs_client.post("/train", json={"arch": "mlp", "epochs": 1000}, headers=AUTH)
    assert bad.status_code == 422
    assert bad.json() == example("/train", "post", 422)
    assert example("/predict", "post", 422)["detail"][0]["loc"] == ["body", "file"]
    assert docs_client.post("/predict", files={"other": ("x", b"1")}).json()["detail"][0]["loc"] == ["body", "file"]
    limit = docs_client.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
    assert limit == Settings.model_fields["max_upload_bytes"].default  # the documented answer is the default's
    too_big = docs_client.post("/predict", content=b"\0" * (limit + 1), headers={"content-type": "image/png"})
    assert too_big.status_code == 413
    assert too_big.json() == example("/predict", "post", 413)


def test_the_registry_examples_are_the_real_answers(docs_client: TestClient) -> None:
    schema = docs_client.get("/openapi.json").json()

    def detail(path: str, method: str, status: int) -> str:
        response = schema["paths"][path][method]["responses"][str(status)]
        return str(response["content"]["application/json"]["example"]["detail"])

    documented = detail("/models/{model_id}", "get", 404)
    model_id = documented.split("'")[1]
    assert docs_client.get(f"/models/{model_id}").json()["detail"] == documented
    assert docs_client.post(f"/models/{model_id}/activate", headers=AUTH).json()["detail"] == documented
    live = docs_client.get("/model").json()["id"]
    refused = docs_client.delete(f"/models/{live}", headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["detail"] == detail("/models/{model_id}", "delete", 409).replace(model_id, live)
    # The other documented answers have the shape of the service's messages.
    assert detail("/models/{model_id}/activate", "post", 409).startswith(f"model {model_id} cannot be loaded")
    assert detail("/train", "post", 503).startswith("the job database is unavailable: ")
    assert detail("/models", "get", 503) == detail("/train", "post", 503)
    assert detail("/train", "post", 507).startswith("cannot start a training job: ")


def test_docs_and_redoc_load_only_local_assets(docs_client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = docs_client.get(page).text
        assert "cdn." not in html, html
        assert "googleapis" not in html, html
        assets = [part.split('"', 1)[0] for part in html.split('"/docs-assets/')[1:]]
        assert assets, html
        for asset in assets:
            response = docs_client.get(f"/docs-assets/{asset}")
            assert response.status_code == 200, asset
            assert len(response.content) > 1000
    assert b"cdn.redoc.ly" not in docs_client.get("/docs-assets/redoc.standalone.js").content
    assert docs_client.get("/docs-assets/..%2Fcore.py").status_code == 404
    assert docs_client.get("/docs-assets/nothing.js").status_code == 404
