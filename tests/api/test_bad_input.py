"""Every bad input gets a clear 4xx JSON error, and the server keeps answering."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.main import create_app
from tests.conftest import DATA_DIR, SERVED_MODEL, png_bytes

DIGIT = png_bytes(np.eye(28, dtype=np.uint8) * 255)


@pytest.fixture
def strict_client(tmp_path: Path, fast_path: bool) -> Iterator[TestClient]:
    settings = Settings(
        model=SERVED_MODEL,
        state_dir=tmp_path,
        data_dir=DATA_DIR,
        max_upload_bytes=64 * 1024,
        max_image_pixels=1_000_000,
        max_files=4,
    )
    with TestClient(create_app(settings, fast_path=fast_path)) as client:
        yield client


def assert_error(response: object, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert fragment in str(detail)


def assert_still_serving(client: TestClient) -> None:
    response = client.post("/predict", files={"file": ("ok.png", DIGIT, "image/png")})
    assert response.status_code == 200


def test_no_file(strict_client: TestClient) -> None:
    assert_error(strict_client.post("/predict"), 422, "file")
    assert_error(strict_client.post("/predict", data={"other": "x"}, files={"x": ("a", b"1")}), 422, "file")
    assert_still_serving(strict_client)


def test_empty_file(strict_client: TestClient) -> None:
    assert_error(strict_client.post("/predict", files={"file": ("e.png", b"", "image/png")}), 400, "empty file")
    assert_still_serving(strict_client)


def test_not_an_image(strict_client: TestClient) -> None:
    response = strict_client.post("/predict", files={"file": ("n.png", b"hello, not an image", "image/png")})
    assert_error(response, 415, "not a readable image")
    assert_still_serving(strict_client)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(strict_client: TestClient, fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    data = png_bytes(noise, fmt=fmt)
    response = strict_client.post("/predict", files={"file": ("t", data[: len(data) // 2], f"image/{fmt.lower()}")})
    assert_error(response, 400, "truncated or corrupt")
    assert_still_serving(strict_client)


def test_unsupported_declared_type(strict_client: TestClient) -> None:
    response = strict_client.post("/predict", files={"file": ("a.txt", b"1234", "text/plain")})
    assert_error(response, 415, "unsupported media type 'text/plain'")
    response = strict_client.post("/predict", content=b"{}", headers={"content-type": "application/json"})
    assert_error(response, 415, "unsupported content type")
    assert_still_serving(strict_client)


def test_unsupported_image_format(strict_client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, format="PPM")
    response = strict_client.post("/predict", files={"file": ("a.ppm", buffer.getvalue(), "image/x-portable-pixmap")})
    assert_error(response, 415, "unsupported media type")
    response = strict_client.post("/predict", files={"file": ("a.bin", buffer.getvalue(), "application/octet-stream")})
    assert_error(response, 415, "not a readable image")
    assert_still_serving(strict_client)


def test_body_over_limit_by_content_length(strict_client: TestClient) -> None:
    big = b"\0" * (65 * 1024)
    assert_error(strict_client.post("/predict", files={"file": ("big.png", big, "image/png")}), 413, "limit of 65536")
    assert_still_serving(strict_client)


def test_body_over_limit_while_streaming(strict_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # no Content-Length: the limit must trip mid-stream
            yield b"\0" * 4096

    response = strict_client.post("/predict", content=chunks(), headers={"content-type": "image/png"})
    assert_error(response, 413, "limit of 65536")
    assert_still_serving(strict_client)


def test_decompression_bomb_is_refused_without_decoding(strict_client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buffer, format="PNG")  # 25 megapixels in a few kB
    assert len(buffer.getvalue()) < 64 * 1024
    response = strict_client.post("/predict", files={"file": ("bomb.png", buffer.getvalue(), "image/png")})
    assert_error(response, 413, "5000x5000 pixels, more than the limit of 1000000")
    assert_still_serving(strict_client)


def test_too_many_files(strict_client: TestClient) -> None:
    files = [("files", (f"{i}.png", DIGIT, "image/png")) for i in range(5)]
    assert_error(strict_client.post("/predict", files=files), 413, "at most 4")
    many = [("files", (f"{i}.png", DIGIT, "image/png")) for i in range(20)]
    assert_error(strict_client.post("/predict", files=many), 413, "at most 4")
    assert_still_serving(strict_client)


def test_bad_files_in_a_batch_fail_alone(strict_client: TestClient) -> None:
    bomb = io.BytesIO()
    Image.new("1", (5000, 5000)).save(bomb, format="PNG")
    files = [
        ("files", ("good.png", DIGIT, "image/png")),
        ("files", ("bad.png", b"nope", "image/png")),
        ("files", ("bomb.png", bomb.getvalue(), "image/png")),
        ("files", ("notes.txt", DIGIT, "text/plain")),
    ]
    response = strict_client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    items = response.json()["predictions"]
    assert [item.get("status") for item in items] == [None, 415, 413, 415]
    assert items[0]["digit"] is not None
    assert items[1]["detail"].startswith("file 1 (bad.png): not a readable image")
    assert "5000x5000 pixels" in items[2]["detail"]
    assert "file 3" in items[3]["detail"]
    assert "text/plain" in items[3]["detail"]
    assert_still_serving(strict_client)


def test_a_text_field_in_a_batch_refuses_the_request(strict_client: TestClient) -> None:
    """A text field where a file belongs is not the request the schema describes: 422 for all of it."""
    body, boundary = b"", "b0undary"
    for filename, data in (("a.png", DIGIT), (None, b"just text")):
        disposition = 'form-data; name="files"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = strict_client.post("/predict", content=body, headers=headers)
    assert_error(response, 422, "file 1: expected a file upload, got a text field")


def test_an_empty_file_in_a_batch_fails_alone(strict_client: TestClient) -> None:
    files = [("files", ("a.png", DIGIT, "image/png")), ("files", ("e.png", b"", "image/png"))]
    response = strict_client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    first, second = response.json()["predictions"]
    assert first["digit"] is not None
    assert second == {"status": 400, "detail": "file 1 (e.png): empty file: the upload has no bytes"}


def test_file_and_files_together_are_one_batch(strict_client: TestClient) -> None:
    files = [("file", ("a.png", DIGIT, "image/png")), ("files", ("b.png", b"nope", "image/png"))]
    response = strict_client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    first, second = response.json()["predictions"]
    assert first["digit"] is not None
    assert second["status"] == 415
    assert second["detail"].startswith("file 1 (b.png)")
    assert_error(strict_client.post("/predict/frame", files=files), 422, "one image")


def test_text_field_instead_of_file(strict_client: TestClient) -> None:
    multipart = strict_client.post("/predict", data={"file": "not a file"}, files={"other": ("x", b"1")})
    assert_error(multipart, 422, "expected a file upload")
    urlencoded = strict_client.post("/predict", data={"file": "not a file"})
    assert_error(urlencoded, 415, "send multipart/form-data or an image body")


def test_unexpected_error_is_a_generic_500(strict_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("app.core.inference.prepare_upload", explode)
    with TestClient(strict_client.app, raise_server_exceptions=False) as client:
        response = client.post("/predict", files={"file": ("ok.png", DIGIT, "image/png")})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "secret" not in response.text
