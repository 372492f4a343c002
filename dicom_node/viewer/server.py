"""Start OHIF (static site behind nginx) and an Orthanc with DICOMweb on loopback, as child processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dicom_node.errors import ViewerError
from dicom_node.viewer.nginx import nginx_conf, orthanc_conf

OHIF_VERSION = "3.13.2"
APP_CONFIG = Path(__file__).resolve().parent / "app-config.js"
PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
MIME_CANDIDATES = ("/etc/nginx/mime.types",)
INSTALL_HINT = "run `make ohif` (Debian orthanc, orthanc-dicomweb, nginx-light; npm pack @ohif/app@3.13.2)"


def find_dist(given: Path | None = None) -> Path:
    """The OHIF site: ``given``, else $DICOM_NODE_OHIF_DIST, else .ohif/dist here or in the checkout."""
    here = Path(__file__).resolve().parents[2] / ".ohif" / "dist"
    env = os.environ.get("DICOM_NODE_OHIF_DIST")
    for candidate in (given, Path(env) if env else None, Path(".ohif/dist"), here):
        if candidate is not None and (candidate / "index.html").is_file():
            return candidate.resolve()
    raise ViewerError(f"no OHIF {OHIF_VERSION} site found (index.html): {INSTALL_HINT}")


def _first_existing(env: str, candidates: Iterable[str], what: str) -> Path:
    for candidate in (os.environ.get(env), *candidates):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise ViewerError(f"{what} not found (set {env}): {INSTALL_HINT}")


def _program(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise ViewerError(f"{name} is not installed: {INSTALL_HINT}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


class OhifServer:
    """nginx (OHIF site, DICOMweb proxy) and Orthanc, both on 127.0.0.1, state under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        dist: Path | None = None,
        http_port: int = 0,
        orthanc_port: int = 0,
        dicom_port: int | None = None,
    ) -> None:
        self.workdir = workdir.resolve()
        self.dist = find_dist(dist)
        self.http_port = http_port or _free_port()
        self.orthanc_port = orthanc_port or _free_port()
        self.dicom_port = dicom_port
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def orthanc_url(self) -> str:
        return f"http://127.0.0.1:{self.orthanc_port}"

    def start(self, timeout: float = 60) -> None:
        orthanc, nginx = _program("Orthanc"), _program("nginx")
        plugin = _first_existing("ORTHANC_DICOMWEB_PLUGIN", PLUGIN_CANDIDATES, "Orthanc DICOMweb plugin")
        mime = _first_existing("NGINX_MIME_TYPES", MIME_CANDIDATES, "nginx mime.types")
        run, logs = self.workdir / "run", self.workdir / "logs"
        for folder in (run, logs, self.workdir / "orthanc"):
            folder.mkdir(parents=True, exist_ok=True)
        orthanc_json = self.workdir / "orthanc.json"
        orthanc_json.write_text(
            orthanc_conf(
                storage=self.workdir / "orthanc",
                plugin=plugin,
                http_port=self.orthanc_port,
                dicom_port=self.dicom_port,
            )
        )
        # as root nginx would run its worker as "nobody", who may not read the site: keep our user
        user = f"user {_user()};" if os.geteuid() == 0 else ""
        nginx_path = self.workdir / "nginx.conf"
        nginx_path.write_text(
            nginx_conf(
                dist=self.dist,
                app_config=APP_CONFIG,
                run=run,
                logs=logs,
                mime_types=mime,
                http_port=self.http_port,
                orthanc_port=self.orthanc_port,
                user_line=user,
            )
        )
        self._spawn([orthanc, str(orthanc_json)], logs / "orthanc.log")
        self._wait(f"{self.orthanc_url}/system", timeout, "Orthanc", logs / "orthanc.log")
        self._spawn([nginx, "-p", str(run), "-c", str(nginx_path), "-e", str(logs / "nginx-error.log")], None)
        self._wait(f"{self.url}/app-config.js", timeout, "nginx", logs / "nginx-error.log")

    def _spawn(self, argv: list[str], log: Path | None) -> None:
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        self._processes.append(
            subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        )

    def _wait(self, url: str, timeout: float, what: str, log: Path) -> None:
        deadline = time.monotonic() + timeout
        process = self._processes[-1]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.stop()
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise ViewerError(f"{what} exited with {process.returncode}: {tail.strip()}")
            if _answers(url):
                return
            time.sleep(0.2)
        self.stop()
        raise ViewerError(f"{what} did not answer {url} within {timeout:.0f} s (log: {log})")

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()

    def __enter__(self) -> OhifServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def upload(self, paths: Iterable[Path]) -> int:
        """POST every DICOM file under ``paths`` to Orthanc; returns how many were stored."""
        stored = 0
        for path in _files(paths):
            data = path.read_bytes()
            if data[128:132] != b"DICM":
                continue
            request = urllib.request.Request(f"{self.orthanc_url}/instances", data=data, method="POST")
            request.add_header("Content-Type", "application/dicom")
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    stored += int(response.status) == 200
            except urllib.error.HTTPError as exc:
                raise ViewerError(f"Orthanc refused {path}: HTTP {exc.code}") from exc
        return stored


def _user() -> str:
    import grp
    import pwd

    entry = pwd.getpwuid(os.geteuid())
    return f"{entry.pw_name} {grp.getgrgid(entry.pw_gid).gr_name}"


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
