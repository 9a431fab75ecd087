"""Real servers on loopback for the remote-landing tests: OpenSSH's sshd serving SFTP, moto's S3
API server, and a TCP relay that counts the bytes a client receives and can cut a connection
mid-transfer. Each is started by the test that needs it and stopped by it."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import free_port

SSHD = Path("/usr/sbin/sshd")


def sshd_missing() -> str | None:
    """Why sshd cannot be started here, or None."""
    if not SSHD.exists():
        return "OpenSSH's sshd is not installed (apt-get install openssh-server; .ci/run does)"
    if not shutil.which("ssh-keygen"):
        return "ssh-keygen is not installed (openssh-client)"
    return None


def _wait_port(
    port: int, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{what} exited with {process.returncode}: {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "umkm-test", "-f", str(path)],
        check=True,
    )
    return (path.parent / (path.name + ".pub")).read_text().strip()


@dataclass
class Sftp:
    """An sshd on 127.0.0.1:port; `home` is a HOME whose ~/.ssh holds the user's key and the
    server's host key in known_hosts, as an operator's would."""

    port: int
    user: str
    home: Path

    def url(self, path: Path, user: bool = True) -> str:
        who = f"{self.user}@" if user else ""
        return f"sftp://{who}127.0.0.1:{self.port}{path}"


@contextmanager
def sshd(base: Path) -> Iterator[Sftp]:
    """Start OpenSSH's sshd on a free loopback port with a generated host key, accepting only a
    generated user key (no passwords), serving SFTP from its internal server."""
    base.mkdir(parents=True, exist_ok=True)
    home = base / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    host_pub = _keygen(base / "host_ed25519")
    user_pub = _keygen(home / ".ssh" / "id_ed25519")
    (base / "authorized_keys").write_text(user_pub + "\n")
    port = free_port()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    config = base / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {base / "host_ed25519"}
PidFile {base / "sshd.pid"}
AuthorizedKeysFile {base / "authorized_keys"}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
MaxStartups 50
Subsystem sftp internal-sftp
LogLevel ERROR
"""
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    # the server's log goes to a file: a pipe nobody reads fills up and stalls the server
    log = base / "sshd.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log_file
        )
    try:
        _wait_port(port, process, "sshd", log)
        yield Sftp(port, getpass.getuser(), home)
    finally:
        _stop(process)


@dataclass
class S3:
    port: int
    endpoint: str

    def env(self, **extra: str) -> dict[str, str]:
        """The AWS variables an operator sets for this server (any key: moto accepts all)."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_EC2_METADATA_DISABLED": "true", **extra}  # fmt: skip


@contextmanager
def moto_s3(base: Path) -> Iterator[S3]:
    """moto's S3 API server in its own process on a free loopback port."""
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # moto logs every request to stderr: into a pipe nobody reads it stalls the server after
    # about 800 requests (64 KiB), so the log goes to a file
    log = base / "moto.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "MOTO_CALL_RESET_API": "false"},
        )
    try:
        _wait_port(port, process, "moto server", log)
        endpoint = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=10).read()
        yield S3(port, endpoint)
    finally:
        _stop(process)


def s3_upload(s3: S3, local: Path, bucket: str, prefix: str) -> None:
    """Put a local landing folder's files under s3://bucket/prefix/, creating the bucket."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=s3.endpoint, aws_access_key_id="testing",
        aws_secret_access_key="testing-secret", region_name="us-east-1",
    )  # fmt: skip
    with suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        # bytes, not a file: botocore sends `Expect: 100-continue` with a file body, and moto's
        # development server sometimes never answers that for an empty file (`_SUCCESS`)
        key = f"{prefix}/{path.relative_to(local).as_posix()}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


@dataclass
class Relay:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:target that counts the bytes sent to clients and,
    while `cut_after` is set (and fewer than `max_cuts` were made), drops a connection once it
    has sent that many bytes; `delay` slows every chunk sent to clients (seconds)."""

    target: int
    port: int = 0
    received: int = 0  # bytes the server sent to clients through the relay
    cut_after: int | None = None
    max_cuts: int | None = None
    cuts: int = 0
    delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        with self._lock:
            self.received = 0


@contextmanager
def relay(target: int) -> Iterator[Relay]:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    state = Relay(target, int(listener.getsockname()[1]))

    def pump(src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        sent = 0
        try:
            while not state._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                over = state.cut_after is not None and sent + len(data) > state.cut_after
                if downstream and over:
                    with state._lock:
                        cut = state.max_cuts is None or state.cuts < state.max_cuts
                        state.cuts += cut
                    if cut:
                        break
                if downstream and state.delay:
                    time.sleep(state.delay)
                dst.sendall(data)
                sent += len(data)
                if downstream:
                    with state._lock:
                        state.received += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def serve() -> None:
        while not state._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", target), timeout=10)
                upstream.settimeout(None)
                for end in (client, upstream):  # no Nagle: SSH's small packets would wait for ACKs
                    end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                client.close()
                continue
            threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client, True), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state._stop.set()
        listener.close()
        thread.join(timeout=5)
