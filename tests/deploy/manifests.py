"""Readers for the deployment files, for the tests: Dockerfile instructions, .dockerignore, compose
variable interpolation, systemd unit files, and the CLI parse of a command line.

Each follows the documented rules of its tool for the part the files in deploy/ use (Dockerfile
continuation lines and JSON-form ENTRYPOINT/CMD; .dockerignore last-match-wins with ``!``; the compose
``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$`` forms; systemd's repeated keys).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_node.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "dicom-node"


# ------------------------------------------------------------------------------------------- the CLI


def parse_cli(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` (without the program name) with the real ``dicom-node`` parser, or fail the test."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return build_parser().parse_args(list(argv))
    except SystemExit as exc:
        raise AssertionError(
            f"dicom-node {' '.join(argv)}: rejected by the CLI: {stderr.getvalue()}"
        ) from exc


# ------------------------------------------------------------------------------------------ Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self.arguments
        return value


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


def docker_env(instructions: Sequence[Instruction], stage: int = -1) -> dict[str, str]:
    """The ENV of one build stage (default: the final image), ``KEY=value`` form, ``${PATH}`` left as is."""
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append(instruction)
    env: dict[str, str] = {}
    for instruction in stages[stage]:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV without '=': {instruction.arguments}"
                env[key] = value
    return env


def dockerignore_excludes(patterns_file: Path, relative: str) -> bool:
    """Whether ``relative`` (a path in the build context) is left out by .dockerignore (last match wins)."""
    excluded = False
    parts = relative.strip("/").split("/")
    for raw in patterns_file.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        # a pattern matches the path or any of its parent folders; '**' spans any number of folders
        for depth in range(1, len(parts) + 1):
            if _glob_match(pattern, "/".join(parts[:depth])):
                excluded = not negate
                break
    return excluded


def _glob_match(pattern: str, path: str) -> bool:
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex.replace(r"\?", "[^/]"), path) is not None


# --------------------------------------------------------------------------------------------- compose

_COMPOSE_VAR = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?|-|\?)(?P<arg>[^}]*))?\})"
)


class MissingVariableError(Exception):
    """A ``${VAR:?message}`` with VAR unset or empty: ``docker compose`` refuses to start."""


def interpolate(value: Any, environ: Mapping[str, str]) -> Any:
    """Compose's variable interpolation over a parsed compose file."""
    if isinstance(value, dict):
        return {key: interpolate(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environ) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = environ.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise MissingVariableError(f"{name}: {arg}")
        return current or ""

    return _COMPOSE_VAR.sub(one, value)


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped; commented examples ignored)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=value: {line!r}"
        values[key.strip()] = value.split(" #", 1)[0].strip()
    return values


# --------------------------------------------------------------------------------------------- systemd


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values in order (systemd allows repeated keys such as EnvironmentFile=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path}: key outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not Key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_exec_argv(command: str, environ: Mapping[str, str], instance: str = "") -> list[str]:
    """An ExecStart= line as systemd runs it: %i, ${VAR} (one word) and $VAR (split into words)."""
    words: list[str] = []
    for word in shlex.split(command.replace("%i", instance)):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            words.extend(environ.get(whole.group(1), "").split())
            continue
        words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: environ.get(m.group(1), ""), word))
    return words


def unit_environment(service: Mapping[str, list[str]]) -> dict[str, str]:
    """The Environment= assignments of a [Service] section."""
    env: dict[str, str] = {}
    for line in service.get("Environment", []):
        for pair in shlex.split(line):
            key, _, value = pair.partition("=")
            env[key] = value
    return env
