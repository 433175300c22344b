"""Every error a reader can meet has its text in both languages.

An AST walk of server/ finds each raise site that names its code or key literally (DomainError,
Forbidden, NotFound, require_rate, the error subclasses, and the `(code, message)` refusals the
node buses raise); both error catalogues must carry that key, with the same placeholders, and
the site must pass every placeholder as a detail. A literal Swedish message must be the Swedish
catalogue's text, so moving text into the catalogue never changes what a Swedish reader sees.
Codes that arrive from streaming/ and rooms/ errors are checked the same way.
"""

from __future__ import annotations

import ast
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "server" / "platform" / "locales"
CODE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
ERRORS = {"DomainError", "Forbidden", "NotFound"}
# name -> (index of the code, index of the message); None: the class fixes it
CALLS: dict[str, tuple[int | None, int]] = {
    "DomainError": (0, 1), "NotFound": (0, 1), "Forbidden": (None, 0), "require_rate": (5, 6),
}
FIXED_CODE = {"Forbidden": "auth.forbidden", "NotFound": "not_found"}
# Failures of a publishing job are kept on the publication, not raised to a reader.
NOT_RAISED = ("publish.",)


@dataclass
class Site:
    key: str
    where: str
    message: str | None = None  # the literal Swedish text, if the site has one
    details: set[str] | None = field(default_factory=set)  # None: passes **details


def catalogue(lang: str) -> dict[str, str]:
    data = json.loads((LOCALES / lang / "errors.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keys(node: ast.expr) -> list[str]:
    """A literal key, or both literal branches of `"a" if x else "b"`."""
    branches = [node.body, node.orelse] if isinstance(node, ast.IfExp) else [node]
    return [k for k in map(_text, branches) if k is not None]


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _is_super_init(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "__init__"
            and isinstance(f.value, ast.Call) and _name(f.value) == "super")


def _call_sites(call: ast.Call, name: str, where: str) -> list[Site]:
    code_at, message_at = CALLS[name] if name in CALLS else (0, 1)
    args = call.args
    if code_at is None:
        code: str | None = FIXED_CODE[name]
    elif code_at < len(args):
        code = _text(args[code_at])
    else:
        code = FIXED_CODE.get(name)
    kwargs = {k.arg: k.value for k in call.keywords}
    keys = _keys(kwargs["key"]) if kwargs.get("key") is not None else [code] if code else []
    message = _text(args[message_at]) if message_at < len(args) else None
    details = None if None in kwargs else {k for k in kwargs if k and k != "key"}
    return [Site(key, where, message, details) for key in keys]


def _refusal(node: ast.expr, where: str) -> list[Site]:
    """`("recording.no_media_node", "Ingen medienod …")` and the node bus's reply dict."""
    if isinstance(node, ast.Tuple) and len(node.elts) == 2:
        code, message = map(_text, node.elts)
        if code and message and CODE.match(code):
            return [Site(code, where, message)]
    if isinstance(node, ast.Dict):
        entries = {_text(k): _text(v) for k, v in zip(node.keys, node.values, strict=True) if k}
        if entries.get("code") and entries.get("key") and "message" in entries:
            return [Site(str(entries["key"]), where, entries["message"])]
    return []


def _is_messages(node: ast.Assign) -> bool:
    return (isinstance(node.value, ast.Dict)
            and any(isinstance(t, ast.Name) and t.id == "MESSAGES" for t in node.targets))


class Walker(ast.NodeVisitor):
    """Collects the sites of one module."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.sites: list[Site] = []
        self._error_class = [False]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
        self._error_class.append(bool(bases & ERRORS))
        self.generic_visit(node)
        self._error_class.pop()

    def visit_Call(self, node: ast.Call) -> None:
        at = f"{self.where}:{node.lineno}"
        name = _name(node)
        if name in CALLS:
            self.sites += _call_sites(node, name, at)
        elif self._error_class[-1] and _is_super_init(node) and node.args:
            if _text(node.args[0]):
                self.sites += _call_sites(node, "DomainError", at)
        for kw in node.keywords:
            self.sites += _refusal(kw.value, at)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        at = f"{self.where}:{node.lineno}"
        self.sites += _refusal(node.value, at)
        if _is_messages(node):  # code -> text, for errors that arrive from rooms/
            assert isinstance(node.value, ast.Dict)
            for k, v in zip(node.value.keys, node.value.values, strict=True):
                if k is not None and _text(k) and _text(v):
                    self.sites.append(Site(str(_text(k)), at, _text(v)))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        at = f"{self.where}:{node.lineno}"
        self.sites += _refusal(node, at)
        for value in node.values:
            self.sites += _refusal(value, at)
        self.generic_visit(node)


def sites_in(source: str, where: str = "<source>") -> list[Site]:
    walker = Walker(where)
    walker.visit(ast.parse(source))
    return walker.sites


def server_sites() -> list[Site]:
    return [
        site
        for path in sorted((ROOT / "server").rglob("*.py"))
        for site in sites_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]


def engine_codes(package: str, error: str) -> set[str]:
    """Literal codes of `error(...)` raised in streaming/ or rooms/."""
    codes = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node) == error and node.args:
                code = _text(node.args[0])
                if code and not code.startswith(NOT_RAISED):
                    codes.add(code)
    return codes


def missing(sites: list[Site], lang: str) -> set[str]:
    return {site.key for site in sites} - set(catalogue(lang))


def wrong_swedish(sites: list[Site]) -> list[str]:
    sv = catalogue("sv")
    return [f"{s.where} {s.key}: {s.message!r} != {sv.get(s.key)!r}"
            for s in sites if s.message is not None and s.key in sv and sv[s.key] != s.message]


def unfilled(sites: list[Site]) -> list[str]:
    sv = catalogue("sv")
    return [f"{s.where} {s.key}: needs {sorted(placeholders(sv[s.key]) - s.details)}"
            for s in sites if s.details is not None and s.key in sv
            and placeholders(sv[s.key]) - s.details]


# -- the server's own raise sites ------------------------------------------------------------


def test_the_walk_finds_the_raise_sites() -> None:
    keys = {site.key for site in server_sites()}
    assert len(keys) > 100
    assert {"qa.rate_limited", "auth.forbidden", "auth.forbidden.moderators_only",
            "feedback.invalid", "recording.no_media_node", "server.error.remote"} <= keys


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_raised_key_is_in_the_catalogue(lang: str) -> None:
    assert missing(server_sites(), lang) == set()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_engine_code_is_in_the_catalogue(lang: str) -> None:
    rooms = {f"breakout.{c}" if c.startswith("plan.") else c
             for c in engine_codes("rooms", "RoomsError")}
    expected = engine_codes("streaming", "StreamingError") | rooms
    assert expected - set(catalogue(lang)) == set()


def test_a_literal_swedish_message_is_the_catalogue_text() -> None:
    assert wrong_swedish(server_sites()) == []


def test_every_placeholder_is_passed_as_a_detail() -> None:
    assert unfilled(server_sites()) == []


# -- the catalogues ---------------------------------------------------------------------------


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(catalogue("sv")) == set(catalogue("en"))


def test_placeholders_match_between_languages() -> None:
    sv, en = catalogue("sv"), catalogue("en")
    assert [k for k in sv if placeholders(sv[k]) != placeholders(en.get(k, ""))] == []


def test_catalogues_are_sorted_and_texts_are_set() -> None:
    for lang in ("sv", "en"):
        data = catalogue(lang)
        assert list(data) == sorted(data), lang
        assert all(isinstance(v, str) and v.strip() for v in data.values()), lang


def test_english_differs_from_swedish() -> None:
    """A copied Swedish text would pass every other check; a few are the same by nature."""
    sv, en = catalogue("sv"), catalogue("en")
    same = {k for k in sv if sv[k] == en[k]}
    assert same <= {"event.invalid_file"}


# -- the walk itself can fail ------------------------------------------------------------------

SOURCE = '''
class Gone(DomainError):
    def __init__(self) -> None:
        super().__init__("demo.gone", "Borta.")

REFUSAL = ("demo.refused", "Nej tack.")
MESSAGES = {"demo.message": "Ett meddelande."}

def f(store, who, n):
    raise DomainError("demo.missing_in_catalogue", "Saknas.")
    raise Forbidden("Nej.", key="auth.forbidden.nowhere")
    raise NotFound("demo.not_found", "Finns inte.", key="a.b" if n else "c.d")
    raise DomainError("qa.closed", "Frågestunden är öppen.")
    raise DomainError("qa.text_invalid", f"Texten måste ha 1–{n} tecken.")
    await require_rate(store, "x", who, 1, 60, "demo.rate", "Vänta.")
'''


def test_the_walk_reports_what_is_missing_or_wrong() -> None:
    sites = sites_in(SOURCE)
    assert missing(sites, "en") == {
        "demo.gone", "demo.refused", "demo.missing_in_catalogue", "auth.forbidden.nowhere",
        "a.b", "c.d", "demo.rate", "demo.message",
    }
    assert [w.split(" ", 1)[1] for w in wrong_swedish(sites)] == [
        "qa.closed: 'Frågestunden är öppen.' != 'Frågestunden är stängd.'"]
    assert [w.split(" ", 1)[1] for w in unfilled(sites)] == ["qa.text_invalid: needs ['max']"]
