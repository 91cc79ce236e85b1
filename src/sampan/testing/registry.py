"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on a free loopback port.

Usage::

    with Registry.start(tmp_path / "registry", auth=("alice", "s3cret")) as registry:
        image = httpd_image(tmp_path / "web.tar", name=f"{registry.host}/web:1")   # sampan.testing.oci
        registry.push(image.path, "web:1")                                          # skopeo copy
        registry.manifest_digest("web:1")                                           # GET /v2/web/manifests/1

Each registry has its own storage directory and config under ``base_dir`` (its log in
``base_dir/registry.log``, quoted when it fails to start). With ``auth`` it requires HTTP basic auth
through an htpasswd file (bcrypt, made with apache2-utils' ``htpasswd``). Plain HTTP on 127.0.0.1:
containerd's CRI and skopeo (``--dest-tls-verify=false``) talk to loopback registries without TLS.
Images are pushed with ``skopeo copy oci-archive:PATH docker://HOST/NAME``; they can be pushed at any
time, e.g. after a pod already failed to pull them. The process dies with its starter (``setpriv
--pdeathsig``) and is stopped by :meth:`stop` / leaving the ``with`` block.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from sampan.testing.etcd import _death_signal_prefix, free_port

MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
))


class RegistryError(RuntimeError):
    """The registry binary, skopeo or htpasswd is missing, or the registry failed to start or push."""


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RegistryError(f"{binary} not found (install the Debian package {package})")
    return path


class Registry:
    """One ``docker-registry`` process. ``host`` is ``127.0.0.1:PORT`` (what image names start with)."""

    def __init__(self, base_dir: Path, *, auth: tuple[str, str] | None = None) -> None:
        self.base_dir = base_dir
        self.auth = auth
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = base_dir / "registry.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, base_dir: Path, *, auth: tuple[str, str] | None = None, timeout: float = 20.0) -> Registry:
        """Start a registry on a free port (a few ports are tried if one is taken meanwhile)."""
        registry = cls(base_dir, auth=auth)
        registry._launch(timeout)
        return registry

    def _write_config(self) -> Path:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        storage = self.base_dir / "storage"
        storage.mkdir(exist_ok=True)
        auth = ""
        if self.auth is not None:
            htpasswd = _require("htpasswd", "apache2-utils")
            user, password = self.auth
            out = subprocess.run([htpasswd, "-Bbn", user, password], check=True, capture_output=True, text=True)
            (self.base_dir / "htpasswd").write_text(out.stdout)
            auth = f"auth:\n  htpasswd:\n    realm: sampan-test-registry\n    path: {self.base_dir / 'htpasswd'}\n"
        config = self.base_dir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n{auth}")
        return config

    def _launch(self, timeout: float) -> None:
        binary = _require("docker-registry", "docker-registry")
        for _attempt in range(3):
            self.port = free_port()
            config = self._write_config()
            with open(self.log_path, "ab") as out:
                self.process = subprocess.Popen([*_death_signal_prefix(), binary, "serve", str(config)],
                                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            if self._wait_ready(timeout):
                return
            self.stop()
        raise RegistryError(f"docker-registry did not start; log tail:\n{self._log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            status = self.get("/v2/", authenticate=False)[0]
            if status in (200, 401):
                return True
            time.sleep(0.05)
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def get(self, path: str, *, authenticate: bool = True, accept: str = "") -> tuple[int, bytes, dict[str, str]]:
        """GET ``path`` on the registry: (status, body, headers); status 0 when nothing answers."""
        request = urllib.request.Request(f"http://{self.host}{path}")
        if accept:
            request.add_header("Accept", accept)
        if authenticate and self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5.0) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)
        except OSError:
            return 0, b"", {}

    def push(self, archive: Path, name: str, *, source_name: str = "") -> None:
        """Push the OCI archive ``archive`` as ``HOST/name`` (``name`` = ``repo:tag``) with skopeo;
        ``source_name`` picks an image of a multi-image archive."""
        skopeo = _require("skopeo", "skopeo")
        source = f"oci-archive:{archive}" + (f":{source_name}" if source_name else "")
        cmd = [skopeo, "copy", "--quiet", "--dest-tls-verify=false", source, f"docker://{self.host}/{name}"]
        if self.auth is not None:
            cmd[2:2] = ["--dest-creds", ":".join(self.auth)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RegistryError(f"skopeo copy to {self.host}/{name} failed: {result.stderr.strip()}")

    def manifest_digest(self, name: str) -> str | None:
        """The ``Docker-Content-Digest`` of ``repo:tag`` (None when the registry has no such tag)."""
        repo, _, tag = name.rpartition(":")
        status, _, headers = self.get(f"/v2/{repo}/manifests/{tag}", accept=MANIFEST_ACCEPT)
        return headers.get("Docker-Content-Digest") if status == 200 else None

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
