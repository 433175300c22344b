"""Every redirect a request names (`?next=` on /lang/<code> and after /login) goes through one
check, `safe_next`, which lets only paths on this site through (issue 19, point 3)."""

from __future__ import annotations

import pytest

from server.platform.web import safe_next

SAME_SITE = [
    "/",
    "/e/hosten-2020/live",
    "/e/hosten-2020/live?tab=qa#fragor",
    "/archive/recordings/3",
    "/e/x?next=%2Fe%2Fy",
]

OFF_SITE = [
    "//evil.example/",
    "/\\evil.example/",
    "/%5Cevil.example/",
    "/%5cevil.example/",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%252F%252Fevil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\r\nSet-Cookie: x=1",
    "/%0d%0aX",
    "/%0D%0ALocation:%20https://evil.example",
    "/\tevil",
    "/ evil",
    "\\\\evil.example",
    "／／evil.example",          # fullwidth solidus
    "/\u2044\u2044evil.example",  # fraction slash
    "/e/\u202eevil",              # right-to-left override
    "",
    None,
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", SAME_SITE)
def test_a_path_on_this_site_is_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize("target", OFF_SITE)
def test_anything_else_goes_home(target: str | None) -> None:
    assert safe_next(target) == "/"
