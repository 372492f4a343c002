"""Render the Helm chart in deploy/helm offline, for the tests only.

``helm`` is not installed here and no PyPI package renders Go templates, so this module implements the
part of Go's text/template and of Helm's function library that the chart uses: actions with ``{{-``/``-}}``
trimming, comments, ``define``/``include``, ``if``/``else``, ``with``/``else``, pipelines with ``|``,
parentheses, field chains on ``.``/``$``, and the functions listed in ``FUNCTIONS``. Anything else
(``range``, variables, ``template``, unknown functions) raises :class:`TemplateError`, so a template
change that this subset cannot follow fails the tests instead of rendering wrongly. Missing map keys read
as nil (as in Helm); a field of nil is an error (as in Go).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """A template this subset cannot render, or one that fails (``required``, nil field)."""


class RequiredValueError(TemplateError):
    """``required`` met an empty value: what ``helm install`` reports as an error."""


# ---------------------------------------------------------------------------------------------- parsing


@dataclass
class Text:
    text: str


@dataclass
class Action:
    pipeline: str


@dataclass
class Block:
    kind: str  # "if" | "with"
    pipeline: str
    body: list[Any] = field(default_factory=list)
    else_body: list[Any] = field(default_factory=list)


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


def _lex(source: str) -> list[Text | tuple[str, str]]:
    """Split into text and ("action", content) items, applying the trim markers."""
    items: list[Text | tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        items.append(Text(text))
        items.append(("action", match.group(2).strip()))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = source[pos:]
    items.append(Text(tail.lstrip() if trim_next else tail))
    return items


def parse(source: str, defines: dict[str, list[Any]]) -> list[Any]:
    """Parse a template into nodes; ``define`` blocks are collected into ``defines``."""
    root: list[Any] = []
    stack: list[tuple[str, Any, list[Any]]] = [("root", None, root)]
    for item in _lex(source):
        current = stack[-1][2]
        if isinstance(item, Text):
            if item.text:
                current.append(item)
            continue
        content = item[1]
        if content.startswith("/*"):
            if not content.endswith("*/"):
                raise TemplateError(f"unterminated comment: {content[:40]!r}")
            continue
        keyword, _, rest = content.partition(" ")
        rest = rest.strip()
        if keyword == "define":
            body: list[Any] = []
            defines[_string_literal(rest)] = body
            stack.append(("define", None, body))
        elif keyword in ("if", "with"):
            block = Block(keyword, rest)
            current.append(block)
            stack.append((keyword, block, block.body))
        elif keyword == "else":
            kind, block, _ = stack.pop()
            if kind not in ("if", "with") or rest:
                raise TemplateError(f"unsupported else here: {content!r}")
            stack.append((kind, block, block.else_body))
        elif keyword == "end":
            if len(stack) == 1:
                raise TemplateError("end without a block")
            stack.pop()
        elif keyword in ("range", "template", "block", "break", "continue") or content.startswith("$"):
            raise TemplateError(f"not in the supported subset: {content!r}")
        else:
            current.append(Action(content))
    if len(stack) != 1:
        raise TemplateError(f"unclosed {stack[-1][0]} block")
    return root


def _string_literal(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        value = json.loads(text)
        assert isinstance(value, str)
        return value
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    raise TemplateError(f"expected a string literal, got {text!r}")


# ------------------------------------------------------------------------------------------ expressions

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<field>\$?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.|\$)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[|()])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"cannot parse {text[pos:]!r} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _go_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        raise TemplateError(f"printing a {type(value).__name__} without toYaml: {value!r}")
    return str(value)


def _truthy(value: Any) -> bool:
    return bool(value)  # Go: false, 0, nil and empty string/map/list are false, like Python


def _to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True).rstrip("\n")


def _indent(width: int, text: str) -> str:
    pad = " " * int(width)
    return "\n".join(pad + line for line in _go_string(text).split("\n"))


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        return _go_string(next(values))

    return re.sub(r"%[svd%]", one, fmt)


def _required(message: str, value: Any) -> Any:
    if value is None or value == "":
        raise RequiredValueError(message)
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": lambda fallback, value=None: value if _truthy(value) else fallback,
    "required": _required,
    "quote": lambda *values: " ".join(json.dumps(_go_string(v)) for v in values),
    "toYaml": _to_yaml,
    "nindent": lambda width, text: "\n" + _indent(width, text),
    "indent": _indent,
    "trunc": lambda n, text: _go_string(text)[: int(n)],
    "trimSuffix": lambda suffix, text: _go_string(text).removesuffix(suffix),
    "printf": _printf,
    "print": lambda *values: "".join(_go_string(v) for v in values),
    "ternary": lambda yes, no, condition: yes if _truthy(condition) else no,
    "join": lambda sep, items: sep.join(_go_string(i) for i in items),
    "sha256sum": lambda text: hashlib.sha256(_go_string(text).encode()).hexdigest(),
    "b64enc": lambda text: base64.b64encode(_go_string(text).encode()).decode(),
    "not": lambda value: not _truthy(value),
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "and": lambda *values: all(_truthy(v) for v in values),
    "or": lambda *values: any(_truthy(v) for v in values),
}


class Renderer:
    """Renders one chart: its defines, values and release."""

    def __init__(self, chart_dir: Path, values: Mapping[str, Any], release: str, namespace: str) -> None:
        self.chart_dir = chart_dir
        chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
        self.root: dict[str, Any] = {
            "Values": dict(values),
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
            "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
        }
        self.defines: dict[str, list[Any]] = {}
        self.templates: dict[str, list[Any]] = {}
        for path in sorted((chart_dir / "templates").iterdir()):
            nodes = parse(path.read_text(encoding="utf-8"), self.defines)
            if not path.name.startswith("_"):
                self.templates[path.name] = nodes

    def render_all(self) -> dict[str, str]:
        return {name: self._render(nodes, self.root) for name, nodes in self.templates.items()}

    def _render(self, nodes: list[Any], dot: Any) -> str:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                out.append(_go_string(self._pipeline(node.pipeline, dot)))
            else:
                value = self._pipeline(node.pipeline, dot)
                if _truthy(value):
                    out.append(self._render(node.body, value if node.kind == "with" else dot))
                else:
                    out.append(self._render(node.else_body, dot))
        return "".join(out)

    def _pipeline(self, text: str, dot: Any) -> Any:
        tokens = _tokens(text)
        value, pos = self._parse_pipeline(tokens, 0, dot)
        if pos != len(tokens):
            raise TemplateError(f"unexpected {tokens[pos][1]!r} in {text!r}")
        return value

    def _parse_pipeline(self, tokens: list[tuple[str, str]], pos: int, dot: Any) -> tuple[Any, int]:
        result: Any = None
        first = True
        while True:
            operands: list[tuple[str, Any]] = []
            while pos < len(tokens) and tokens[pos] not in (("punct", "|"), ("punct", ")")):
                kind, text = tokens[pos]
                if (kind, text) == ("punct", "("):
                    sub, pos = self._parse_pipeline(tokens, pos + 1, dot)
                    if pos >= len(tokens) or tokens[pos] != ("punct", ")"):
                        raise TemplateError("unbalanced parenthesis")
                    operands.append(("value", sub))
                else:
                    operands.append((kind, text))
                pos += 1
            if not operands:
                raise TemplateError("empty command in a pipeline")
            result = self._command(operands, dot, [] if first else [result])
            first = False
            if pos < len(tokens) and tokens[pos] == ("punct", "|"):
                pos += 1
                continue
            return result, pos

    def _command(self, operands: list[tuple[str, Any]], dot: Any, piped: list[Any]) -> Any:
        kind, head = operands[0]
        if kind == "ident" and head not in ("true", "false", "nil"):
            args = [self._operand(k, v, dot) for k, v in operands[1:]] + piped
            if head == "include":
                name, data = args
                if name not in self.defines:
                    raise TemplateError(f"include of unknown template {name!r}")
                return self._render(self.defines[name], data)
            if head not in FUNCTIONS:
                raise TemplateError(f"function {head!r} is not in the supported subset")
            return FUNCTIONS[head](*args)
        if len(operands) != 1 or piped:
            raise TemplateError(f"{head!r} is not a function")
        return self._operand(kind, head, dot)

    def _operand(self, kind: str, text: Any, dot: Any) -> Any:
        if kind == "value":
            return text
        if kind == "string":
            return _string_literal(text)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[text]
        if kind == "field":
            base, path = (self.root, text[1:]) if text.startswith("$") else (dot, text)
            value = base
            for name in [p for p in path.split(".") if p]:
                if value is None:
                    raise TemplateError(f"nil pointer evaluating {text}")
                if not isinstance(value, Mapping):
                    raise TemplateError(f"{text}: cannot take field {name} of {type(value).__name__}")
                value = value.get(name)
            return value
        raise TemplateError(f"unexpected token {text!r}")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of ``--set``/``-f`` values over values.yaml."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_chart(
    chart_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    release: str = "rel",
    namespace: str = "default",
) -> dict[str, str]:
    """Render every template of the chart (file name -> text), like ``helm template``."""
    values = yaml.safe_load((chart_dir / "values.yaml").read_text(encoding="utf-8")) or {}
    return Renderer(chart_dir, deep_merge(values, overrides or {}), release, namespace).render_all()
