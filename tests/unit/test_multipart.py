from __future__ import annotations

import httpx
import pytest

from app.core.multipart import MultipartError, Part, header_params, parse_multipart


def encode(files: list[tuple[str, tuple[str, bytes, str]]], data: dict[str, str] | None = None) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_parses_what_httpx_sends() -> None:
    body, content_type = encode(
        [
            ("files", ("a.png", b"\x89PNG\r\n--not-a-boundary\r\n", "image/png")),
            ("files", ("b.jpg", b"", "image/jpeg")),
        ],
        data={"note": "hi"},
    )
    parts = parse_multipart(body, content_type, max_parts=10)
    assert parts == [
        Part("note", None, "", b"hi"),
        Part("files", "a.png", "image/png", b"\x89PNG\r\n--not-a-boundary\r\n"),
        Part("files", "b.jpg", "image/jpeg", b""),
    ]


def test_quoted_parameters() -> None:
    assert header_params('form-data; name="file"; filename="my \\"digit\\".png"') == {
        "name": "file",
        "filename": 'my "digit".png',
    }
    assert header_params("multipart/form-data; boundary=abc") == {"boundary": "abc"}


def test_too_many_parts() -> None:
    body, content_type = encode([("files", (f"{i}.png", b"x", "image/png")) for i in range(5)])
    with pytest.raises(MultipartError) as caught:
        parse_multipart(body, content_type, max_parts=4)
    assert caught.value.too_many


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"whatever", "multipart/form-data", "without a valid boundary"),
        (b"no delimiter here", "multipart/form-data; boundary=zz", "does not contain its boundary"),
        (
            b"--zz\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue",
            "multipart/form-data; boundary=zz",
            "ends before its closing boundary",
        ),
        (b"--zz\r\nContent-Disposition: form-data\r\n", "multipart/form-data; boundary=zz", "header terminator"),
        (b"--zz\r\nBroken header\r\n\r\nx\r\n--zz--", "multipart/form-data; boundary=zz", "malformed multipart part"),
        (b"--zzjunk", "multipart/form-data; boundary=zz", "malformed multipart boundary line"),
    ],
)
def test_malformed_bodies(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        parse_multipart(body, content_type, max_parts=4)
