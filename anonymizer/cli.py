"""``dicom-node anonymize``: PS3.15 de-identification of a folder tree, and a residual-PHI check.

The library's side of the command: it takes plain settings. ``--profile NAME`` names one of the
``profiles`` the caller passes to :func:`run`; the node's command (:mod:`dicom_node.cli.anonymize`) adds
``--config`` and passes the profiles of the node's configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from anonymizer.options import Option
from anonymizer.settings import ProfileSettings
from dicom_node.errors import InputError

HELP = (
    "de-identify DICOM files (PS3.15 Annex E profile + options, keyed pseudonyms); --check for residual PHI"
)
DEFAULT_KEY_FILE = Path("var/anon.key")
OPTION_NAMES = [o.value.replace("_", "-") for o in Option]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "options (--option, also accepted in snake_case and in a profile's options list):\n  " + (
        "\n  ".join(OPTION_NAMES)
    )
    parser.add_argument("paths", nargs="*", metavar="IN OUT", help="source folder and output folder")
    parser.add_argument("--profile", help="a profile under anonymizer.profiles of the node configuration")
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME", help="an Annex E option (repeatable)"
    )
    parser.add_argument(
        "--key-file", type=Path, help=f"HMAC key file, created 0600 if new ({DEFAULT_KEY_FILE})"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (all cores)")
    parser.add_argument(
        "--layout",
        choices=("relative", "patient"),
        default="relative",
        help="relative: keep source paths; patient: Patient/Study/Series/ from pseudonymised values",
    )
    parser.add_argument(
        "--audit", type=Path, help="audit file (JSON lines; default OUT/anonymize-audit.jsonl)"
    )
    parser.add_argument("--check", type=Path, metavar="DIR", help="scan DIR for residual PHI instead")
    parser.add_argument("--source", type=Path, metavar="DIR", help="with --check: the source files of DIR")
    parser.add_argument("--json", action="store_true", help="with --check: findings as JSON on stdout")
    parser.add_argument(
        "--quarantine",
        type=Path,
        metavar="DIR",
        help="where outputs that fail the residual-PHI check go (default OUT.quarantine beside OUT)",
    )


def _profile(args: argparse.Namespace, profiles: Mapping[str, ProfileSettings]) -> ProfileSettings:
    from anonymizer.errors import AnonymizationError

    if args.profile:
        profile = profiles.get(args.profile)
        if profile is None:
            known = ", ".join(sorted(profiles)) or "none"
            raise InputError(f"--profile {args.profile}: no such profile (configured: {known})")
        options = list(profile.options) + list(args.option)
        profile = profile.model_copy(update={"options": options})
    else:
        profile = ProfileSettings(options=[])
        profile = profile.model_copy(update={"options": list(args.option)})
    try:
        from anonymizer.options import parse_options

        parse_options(profile.options)
    except AnonymizationError as exc:
        raise InputError(str(exc)) from None
    if args.key_file is not None:
        profile = profile.model_copy(update={"key_file": args.key_file})
    elif profile.key_file is None:
        profile = profile.model_copy(update={"key_file": DEFAULT_KEY_FILE})
    return profile


def run(args: argparse.Namespace, profiles: Mapping[str, ProfileSettings] | None = None) -> int:
    """Run the command; ``profiles``: the named profiles ``--profile`` chooses from (none by default)."""
    profile = _profile(args, profiles or {})
    if args.check is not None:
        return _run_check(args, profile)
    if len(args.paths) != 2:
        raise InputError("expected IN and OUT folders (or --check DIR)")
    source, output = Path(args.paths[0]), Path(args.paths[1])
    if not source.is_dir():
        raise InputError(f"{source}: not a folder")
    if args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: must be at least 1")
    from anonymizer.batch import run_batch
    from anonymizer.keyfile import load_or_create_key

    assert profile.key_file is not None
    key = load_or_create_key(profile.key_file)
    summary = run_batch(
        source,
        output,
        profile,
        key,
        jobs=args.jobs,
        layout=args.layout,
        audit=args.audit,
        progress=_Progress(),
        quarantine=args.quarantine,
    )
    print(f"anonymize: {summary}")
    if summary.refused or summary.failed:
        audit = args.audit or output / "anonymize-audit.jsonl"
        print(f"anonymize: see {audit} for the reason of each refused or failed file", file=sys.stderr)
    from anonymizer.batch import default_quarantine

    held = args.quarantine or default_quarantine(output)
    if held.is_dir() and any(held.iterdir()):
        print(f"anonymize: outputs with residual PHI were not released; they are in {held}", file=sys.stderr)
    return 0


def _run_check(args: argparse.Namespace, profile: ProfileSettings) -> int:
    from anonymizer.check import check_profile, check_tree, report_json

    if not args.check.is_dir():
        raise InputError(f"{args.check}: not a folder")
    if args.source is not None and not args.source.is_dir():
        raise InputError(f"{args.source}: not a folder")
    files, findings = check_tree(args.check, check_profile(profile), args.source)
    if args.json:
        print(report_json(files, findings))
        return 1 if findings else 0
    for finding in findings:
        print(f"residual PHI: {finding}")
    report = {"files": files, "findings": len(findings)}
    print(f"anonymize --check: {json.dumps(report)}")
    return 1 if findings else 0


class _Progress:
    """Progress on stderr, at most twice a second."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.5:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-6)
        end = "\n" if done >= total else ""
        print(f"\ranonymize: {done}/{total} files ({rate:.0f} files/s)", end=end, file=sys.stderr, flush=True)
