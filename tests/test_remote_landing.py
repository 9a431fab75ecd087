"""Landing areas by URL (issue 16): SFTP from OpenSSH's sshd and S3 from moto's server, both on
loopback and started here, each holding a generated landing area. A remote landing is mirrored
into the local landing cache and publishes exactly what the same landing as a local folder
publishes; a rerun transfers no data file; a re-delivered remote file replaces that partner-day;
a dropped connection or a killed pull never counts a partial transfer as delivered."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pipelines.contracts import Landing, load_contracts
from pipelines.intake import remote
from pipelines.intake.landing import PartnerDay
from pipelines.reporting.summary import markdown
from pipelines.run.core import RunSummary, run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests import servers
from tests.conftest import TEST_KEY, THREE_DAYS
from tests.processes import ROOT, Server, free_port, umkm, umkm_env
from tests.test_runs import data_tables, published

START, END = THREE_DAYS
DAY = date(2024, 1, 30)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every partner folder's entries under a landing area (None for a folder), for comparing."""
    contracts = load_contracts()
    out: dict[str, bytes | None] = {}
    for partner in contracts:
        base = root / partner
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            key = path.relative_to(root).as_posix()
            out[key] = None if path.is_dir() else path.read_bytes()
    return out


def stats(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, mtime_ns, ctime_ns) of every file: what the ledger's shortcut compares."""
    return {
        p.relative_to(root).as_posix(): (
            p.stat().st_ino,
            p.stat().st_mtime_ns,
            p.stat().st_ctime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(".")
    }


@dataclass
class Area:
    """A remote landing area: its URL, the environment an operator sets for it, and how to change
    what the remote side holds (`local` is the folder the remote serves, or its twin for S3)."""

    kind: str
    url: str
    env: dict[str, str]
    local: Path
    relay: servers.Relay
    s3: servers.S3 | None = None

    def settings(self, base: Path, **extra: object) -> Settings:
        return Settings(landing=self.url, warehouse=base / "w" / "umkm.duckdb",
                        publish=base / "p" / "umkm.duckdb", pii_key=TEST_KEY, **extra)  # type: ignore[arg-type]  # fmt: skip

    def sync(self) -> None:
        """Make the remote side hold exactly `local` (S3: upload it anew, removing what left)."""
        if self.s3 is None:
            return
        import boto3

        client = boto3.client("s3", endpoint_url=self.s3.endpoint, aws_access_key_id="testing",
                              aws_secret_access_key="testing-secret", region_name="us-east-1")  # fmt: skip
        bucket, prefix = self.url.removeprefix("s3://").split("/", 1)
        keys = {o["Key"] for p in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in p.get("Contents", [])}  # fmt: skip
        want = {f"{prefix}/{p.relative_to(self.local).as_posix()}": p
                for p in self.local.rglob("*") if p.is_file()}  # fmt: skip
        for key in sorted(keys - set(want)):
            client.delete_object(Bucket=bucket, Key=key)
        for key, path in sorted(want.items()):
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


@pytest.fixture(autouse=True)
def quick_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stalled operation fails in seconds here, not a minute (it is retried either way)."""
    monkeypatch.setattr(remote, "OP_TIMEOUT", 10.0)
    monkeypatch.setattr(remote, "BACKOFF_SECONDS", (0.2, 0.5))


@pytest.fixture(scope="module")
def landing(three_days: tuple[Path, Settings]) -> Path:
    """The generated landing (the remote areas serve copies of it)."""
    return three_days[0]


@pytest.fixture(scope="module")
def reference(three_days: tuple[Path, Settings]) -> dict[str, list[tuple[object, ...]]]:
    """What the generated landing publishes as a local folder."""
    return published(three_days[1])


@pytest.fixture(scope="module")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Sftp]:
    why = servers.sshd_missing()
    if why:
        pytest.skip(why)
    with servers.sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.S3]:
    with servers.moto_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="module")
def prefect(shared_prefect_server: Server) -> dict[str, str]:
    return shared_prefect_server.env()


@pytest.fixture(params=["sftp", "s3"])
def area(request: pytest.FixtureRequest, landing: Path, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Area]:  # fmt: skip
    """A fresh copy of the generated landing on a remote server, reached through a relay."""
    local = tmp_path / "remote-side" / "landing"
    shutil.copytree(landing, local)
    if request.param == "sftp":
        server = request.getfixturevalue("sshd_server")
        with servers.relay(server.port) as relay:
            monkeypatch.setenv("HOME", str(server.home))
            url = f"sftp://{server.user}@127.0.0.1:{relay.port}{local}"
            # the relay's port is another host:port to ssh: the same host key is trusted there
            known = server.home / ".ssh" / "known_hosts"
            line = known.read_text().splitlines()[0].split(" ", 1)[1]
            known.write_text(known.read_text() + f"[127.0.0.1]:{relay.port} {line}\n")
            yield Area("sftp", url, {"HOME": str(server.home)}, local, relay)
        return
    # a server of its own: cut connections must not leave a shared server in any state
    bucket = "umkm-landing"
    with servers.moto_s3(tmp_path / "moto") as s3, servers.relay(s3.port) as relay:
        servers.s3_upload(s3, local, bucket, "landing")
        env = s3.env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{relay.port}")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Area("s3", f"s3://{bucket}/landing", env, local, relay, s3)


def test_urls_are_shown_without_user_or_password_and_passwords_are_refused() -> None:
    """It shows a URL without its user, refuses one holding a password or of an unknown scheme,
    and a contract's landing override follows the same rule."""
    assert (
        remote.shown_url("sftp://ops@sftp.example:2222/exports")
        == "sftp://sftp.example:2222/exports"
    )
    for bad in ("sftp://ops:hunter2@host/x", "ftp://host/x", "s3:///prefix"):
        with pytest.raises(ValueError) as refused:
            remote.check_url(bad)
        assert "hunter2" not in str(refused.value)
    with pytest.raises(ValueError, match="may not hold a password"):
        Landing(url="s3://AKIA:secret@bucket/prefix")
    assert Settings(landing="s3://umkm/landing").landing == "s3://umkm/landing"
    assert Settings(landing="landing").landing == Path("landing")


def test_a_local_landing_that_does_not_exist_stops_the_run(settings: Settings) -> None:
    """It refuses to run on a landing folder that is not there, naming it."""
    with pytest.raises(remote.LandingUnavailable, match=str(settings.landing)):
        run_plain(settings, START, END)
    with pytest.raises(remote.LandingUnavailable, match="does not exist"):
        remote.check_landing(settings.landing)


def test_a_remote_landing_publishes_what_the_local_folder_publishes_and_a_rerun_pulls_nothing(
    area: Area, tmp_path: Path, reference: dict[str, list[tuple[object, ...]]]
) -> None:
    """It mirrors the range into a 0700 cache that holds what the remote holds, publishes the local
    folder's values, and on a rerun downloads and rewrites no file (only listings cross)."""
    settings = area.settings(tmp_path)
    first = run_plain(settings, START, END)
    assert first.exit_status == 0 and first.landing_failures == ()
    cache = remote.cache_dir(settings)
    assert cache.stat().st_mode & 0o777 == 0o700
    assert tree(cache) == tree(area.local)
    assert published(settings) == reference
    before = stats(cache)
    area.relay.reset()
    intake = remote.prepare_landing(settings, load_contracts(), START, END)
    assert (intake.files_pulled, intake.bytes_pulled) == (0, 0)
    assert stats(cache) == before  # never rewritten: the ledger reuses every hash
    data = sum(len(v) for v in tree(area.local).values() if v)
    assert area.relay.received < data  # listings (and a handshake) only
    rerun = run_plain(settings, START, END)
    assert {s.status for s in rerun.steps} == {"unchanged"}


def test_a_redelivered_remote_file_replaces_that_partner_day(area: Area, tmp_path: Path) -> None:
    """It pulls only the replaced files and loads that partner-day again; the result equals a
    local run over the corrected landing."""
    settings = area.settings(tmp_path)
    run_plain(settings, START, END, ["pasarnusa"])
    folder = area.local / "pasarnusa" / DAY.isoformat()
    rows = [{"seller_id": "PN999", "shop_name": "Toko Baru", "owner_nik": "3273014101900001",
             "owner_phone": "", "nib": "", "regency_code": "32.73", "business_scale": "micro",
             "kbli": "47911", "joined_at": "2023-06-01", "status": "active"}]  # fmt: skip
    shutil.rmtree(folder)
    b.pasarnusa(area.local, DAY.isoformat(), rows)
    later = time.time() + 5  # SFTP lists whole seconds: the replacement is plainly newer
    for path in folder.iterdir():
        os.utime(path, (later, later))
    area.sync()
    intake = remote.prepare_landing(settings, load_contracts(), START, END, ["pasarnusa"])
    assert intake.files_pulled == 2  # sellers.csv.gz and manifest.json
    rerun = run_plain(settings, START, END, ["pasarnusa"])
    changed = {s.partner + " " + s.export_date.isoformat(): s.status for s in rerun.steps if s.status != "unchanged"}  # fmt: skip
    assert changed == {f"pasarnusa {DAY}": "loaded"}
    local = Settings(landing=area.local, warehouse=tmp_path / "l" / "w.duckdb",
                     publish=tmp_path / "l" / "p.duckdb", pii_key=TEST_KEY)  # fmt: skip
    run_plain(local, START, END, ["pasarnusa"])
    # the values; the history differs (two publications here, one there)
    assert data_tables(published(settings)) == data_tables(published(local))


def test_a_remote_folder_without_success_is_not_delivered(area: Area, tmp_path: Path) -> None:
    """A remote folder without `_SUCCESS` is a cached folder without it: skipped and reported
    missing, exactly as the local folder; once `_SUCCESS` comes, it loads."""
    settings = area.settings(tmp_path)
    marker = area.local / "tokoraya" / DAY.isoformat() / "_SUCCESS"
    marker.unlink()
    area.sync()
    run = run_plain(settings, START, END, ["tokoraya"])
    local = Settings(landing=area.local, warehouse=tmp_path / "l" / "w.duckdb",
                     publish=tmp_path / "l" / "p.duckdb", pii_key=TEST_KEY)  # fmt: skip
    in_place = run_plain(local, START, END, ["tokoraya"])
    assert [d.label for d in run.missing] == [d.label for d in in_place.missing]
    assert [d.label for d in run.missing] == [f"tokoraya {DAY}"]
    assert published(settings) == published(local)
    marker.write_bytes(b"")
    area.sync()
    again = run_plain(settings, START, END)
    assert [s.status for s in again.steps if s.partner == "tokoraya" and s.export_date == DAY] == [
        "loaded"
    ]


def big_day(area: Area, size: int = 3 << 20) -> Path:
    """A pasarnusa partner-day replaced on the remote side by a large file (not parsed here)."""
    folder = area.local / "pasarnusa" / DAY.isoformat()
    (folder / "sellers.csv.gz").write_bytes(os.urandom(size))
    later = time.time() + 5
    os.utime(folder / "sellers.csv.gz", (later, later))
    area.sync()
    return folder


def test_a_dropped_connection_fails_that_partner_day_and_the_next_pull_completes(
    area: Area, tmp_path: Path
) -> None:
    """A transfer cut on every attempt fails only that partner-day (named, with its URL) after
    bounded retries; the cache keeps the previous complete delivery and no partial file; with the
    connection back, the next pull completes it."""
    settings = area.settings(tmp_path)
    contracts = load_contracts()
    remote.prepare_landing(settings, contracts, START, END)
    cache = remote.cache_dir(settings)
    before = tree(cache)
    folder = big_day(area)
    area.relay.cut_after = 1 << 20
    intake = remote.prepare_landing(settings, contracts, START, END)
    assert intake.failed_days == {("pasarnusa", DAY)}
    (line,) = intake.failures
    assert line.startswith(f"pasarnusa {DAY}: pulling ") and remote.shown_url(area.url) in line
    assert "3 attempt" in line
    assert tree(cache) == before  # the old delivery, whole, with its _SUCCESS
    assert not (cache / ".partial").exists() or not any((cache / ".partial").iterdir())
    assert f"pasarnusa {DAY}" not in [d.label for d in intake.scan(START, END)]
    area.relay.cut_after = None
    again = remote.prepare_landing(settings, contracts, START, END)
    assert again.failures == () and again.files_pulled == 1
    assert (cache / "pasarnusa" / DAY.isoformat() / "sellers.csv.gz").read_bytes() == (
        folder / "sellers.csv.gz"
    ).read_bytes()


def test_a_connection_dropped_once_is_retried(area: Area, tmp_path: Path) -> None:
    """One cut mid-transfer costs a retry on a new connection, not the partner-day."""
    settings = area.settings(tmp_path)
    remote.prepare_landing(settings, load_contracts(), START, END)
    big_day(area)
    area.relay.cut_after, area.relay.max_cuts = 1 << 20, 1
    intake = remote.prepare_landing(settings, load_contracts(), START, END)
    assert intake.failures == () and area.relay.cuts == 1 and intake.files_pulled == 1


PULL = """
import sys
from datetime import date
from pipelines.contracts import load_contracts
from pipelines.intake import remote
from pipelines.settings import Settings
settings = Settings(landing=sys.argv[1], warehouse=sys.argv[2], pii_key="k")
remote.prepare_landing(settings, load_contracts(), date(2024, 1, 29), date(2024, 1, 31))
"""


def test_a_pull_killed_mid_transfer_leaves_nothing_half_written(area: Area, tmp_path: Path) -> None:
    """SIGKILL while a file is arriving leaves the previous delivery or no `_SUCCESS`, never a
    partial file under its final name; the next pull completes the partner-day."""
    settings = area.settings(tmp_path)
    remote.prepare_landing(settings, load_contracts(), START, END)
    cache = remote.cache_dir(settings)
    folder = big_day(area, 4 << 20)
    area.relay.delay = 0.01  # about 6 MB/s at most: the transfer takes a while
    pull = subprocess.Popen([sys.executable, "-c", PULL, area.url, str(settings.warehouse)],
                            cwd=ROOT, env={**os.environ, **area.env})  # fmt: skip
    deadline = time.monotonic() + 60
    partial = cache / ".partial"
    while time.monotonic() < deadline:
        if partial.is_dir() and any(p.stat().st_size > 0 for p in partial.iterdir()):
            break
        time.sleep(0.02)
    else:
        pull.kill()
        pytest.fail("the pull never started downloading")
    pull.send_signal(signal.SIGKILL)
    pull.wait()
    cached = cache / "pasarnusa" / DAY.isoformat()
    size = (cached / "sellers.csv.gz").stat().st_size
    assert size != 4 << 20  # the old file, whole: nothing under the final name was half written
    assert (cached / "_SUCCESS").exists()
    area.relay.delay = 0
    intake = remote.prepare_landing(settings, load_contracts(), START, END)
    assert intake.failures == () and intake.files_pulled == 1
    assert tree(cache) == tree(area.local)
    assert (cached / "sellers.csv.gz").read_bytes() == (folder / "sellers.csv.gz").read_bytes()


def test_a_partner_whose_own_sftp_refuses_the_key_fails_and_the_others_load(
    sshd_server: servers.Sftp, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partner delivering to its own SFTP area with a key the server refuses fails, named with
    its URL and no secret; every other partner loads from the local folder; exit status 1."""
    home = tmp_path / "home"
    shutil.copytree(sshd_server.home, home)
    key = home / ".ssh" / "id_ed25519"
    key.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   stdout=subprocess.DEVNULL, input=b"y\n")  # fmt: skip
    monkeypatch.setenv("HOME", str(home))
    url = sshd_server.url(landing)
    contracts = dict(load_contracts())
    contracts["tokoraya"] = contracts["tokoraya"].model_copy(update={"landing": Landing(url=url)})
    monkeypatch.setattr("pipelines.run.core.load_contracts", lambda: contracts)
    settings = Settings(landing=landing, warehouse=tmp_path / "w" / "w.duckdb",
                        publish=tmp_path / "p" / "p.duckdb", pii_key=TEST_KEY)  # fmt: skip
    run = run_plain(settings, START, END)
    assert run.exit_status == 1
    (line,) = run.landing_failures
    assert remote.shown_url(url) in line and "tokoraya" in line and "access refused" in line
    assert sshd_server.user + "@" not in line
    assert {s.partner for s in run.steps} == set(contracts) - {"tokoraya"}
    assert {s.status for s in run.steps} == {"loaded"}
    # the others' folders are the local landing's own, linked, not copied
    assert (remote.cache_dir(settings) / "pasarnusa").is_symlink()


@pytest.mark.parametrize("kind", ["sftp", "s3"])
def test_an_unreachable_host_stops_the_run_naming_the_area(kind: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Nothing listening at the URL: the run stops (LandingUnavailable, exit status 2), naming it."""
    port = free_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-to-be-shown")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    url = f"sftp://127.0.0.1:{port}/srv/landing" if kind == "sftp" else "s3://umkm/landing"
    extra = {"landing_endpoint_url": f"http://127.0.0.1:{port}"} if kind == "s3" else {}
    settings = Settings(landing=url, warehouse=tmp_path / "w.duckdb", pii_key=TEST_KEY, **extra)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(remote.LandingUnavailable) as stopped:
        remote.prepare_landing(settings, load_contracts(), START, END)
    message = str(stopped.value)
    assert url in message and "not-to-be-shown" not in message
    assert "refused" in message or "connect" in message
    assert time.monotonic() - started < 60


def test_credentials_from_prefect_blocks(
    sshd_server: servers.Sftp, s3_server: servers.S3, landing: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, prefect: dict[str, str],
) -> None:  # fmt: skip
    """An SFTP key in a Secret block and S3 keys in an AwsCredentials block are used when the
    standard places hold none (a HOME without keys, no AWS variables)."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_aws import AwsCredentials

    from flows.landing_blocks import read_block

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd_server.home / ".ssh" / "known_hosts", home / ".ssh" / "known_hosts")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "none"))
    servers.s3_upload(s3_server, landing, "umkm-blocks", "landing")
    with temporary_settings({PREFECT_API_URL: prefect["PREFECT_API_URL"]}):
        Secret(value=(sshd_server.home / ".ssh" / "id_ed25519").read_text()).save("sftp-key")
        AwsCredentials(aws_access_key_id="testing", aws_secret_access_key="testing-secret",
                       region_name="us-east-1",
                       aws_client_parameters={"endpoint_url": s3_server.endpoint}).save("s3-keys")  # fmt: skip
        for url, block in ((sshd_server.url(landing), "sftp-key"), ("s3://umkm-blocks/landing", "s3-keys")):  # fmt: skip
            without = Settings(landing=url, warehouse=tmp_path / block / "x" / "w.duckdb")
            with pytest.raises(remote.LandingUnavailable):
                remote.prepare_landing(without, load_contracts(), START, END, blocks=read_block)
            settings = Settings(landing=url, landing_credentials_block=block,
                                warehouse=tmp_path / block / "w.duckdb")  # fmt: skip
            intake = remote.prepare_landing(
                settings, load_contracts(), START, END, blocks=read_block
            )
            assert intake.failures == () and tree(intake.root) == tree(landing), url


def test_a_nightly_run_that_finds_no_due_delivery_says_so() -> None:
    """It warns when no partner due that day delivered, and not when one did or none was due."""
    contracts = load_contracts()
    warning = remote.nothing_due_delivered(contracts, None, DAY, [], "sftp://ops@h/landing")
    assert warning and "2024-01-30" in warning and "pasarnusa" in warning and "ops@" not in warning
    delivered = [PartnerDay("tokoraya", DAY, Path("tokoraya") / DAY.isoformat(), True)]
    assert remote.nothing_due_delivered(contracts, None, DAY, delivered, "x") is None
    sunday = date(2024, 1, 28)
    assert remote.nothing_due_delivered(contracts, ["lkpp-ekatalog"], sunday, [], "x") is None
    run = RunSummary("r", (), (), None, None, landing_failures=("tokoraya: landing area sftp://h/x cannot be listed",),
                     warnings=(warning,))  # fmt: skip
    text = markdown(run, Path("/nonexistent/p.duckdb"), "nightly")
    assert f"**Warning:** {warning}" in text and "sftp://h/x cannot be listed" in text


# --- through `umkm`, as operators run it -----------------------------------------------------


@pytest.mark.slow
def test_umkm_backfill_from_a_remote_landing_publishes_what_the_local_folder_publishes(
    area: Area, tmp_path: Path, reference: dict[str, list[tuple[object, ...]]],
    prefect: dict[str, str],
) -> None:  # fmt: skip
    """`umkm backfill` from S3 and from SFTP publishes the local folder's values; the rerun is all
    unchanged and pulls no file."""
    settings = area.settings(tmp_path)
    env = umkm_env(settings, TEST_KEY, **prefect, **area.env)
    first = umkm("backfill", "--start", START.isoformat(), "--end", END.isoformat(), env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert published(settings) == reference
    area.relay.reset()
    rerun = umkm("backfill", "--start", START.isoformat(), "--end", END.isoformat(), env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert " 0 loaded, " in rerun.stdout and " 0 failed" in rerun.stdout
    assert "0 file(s) pulled (0 bytes)" in rerun.stdout + rerun.stderr
    assert published(settings) == reference


@pytest.mark.slow
@pytest.mark.parametrize("url", ["s3://umkm/landing", "{tmp}/no-such-landing"])
def test_umkm_backfill_of_a_landing_that_is_not_there_exits_2(
    url: str, tmp_path: Path, prefect: dict[str, str], s3_server: servers.S3
) -> None:
    """A landing area that does not exist stops the run with exit status 2 and a message naming
    it (it used to be an empty, successful run)."""
    url = url.format(tmp=tmp_path)
    settings = Settings(landing=url, warehouse=tmp_path / "w" / "w.duckdb",
                        publish=tmp_path / "p" / "p.duckdb")  # fmt: skip
    env = umkm_env(settings, TEST_KEY, **prefect, **s3_server.env())
    run = umkm("backfill", "--start", START.isoformat(), "--end", END.isoformat(), env=env)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"landing area {url} does not exist" in run.stderr


@pytest.mark.slow
def test_umkm_nightly_run_without_any_due_delivery_warns(
    landing: Path, tmp_path: Path, prefect: dict[str, str]
) -> None:
    """A nightly run for a day no partner delivered says so in its summary (exit status 0)."""
    settings = Settings(landing=landing, warehouse=tmp_path / "w" / "w.duckdb",
                        publish=tmp_path / "p" / "p.duckdb")  # fmt: skip
    run = umkm("run", "--date", "2024-03-05", env=umkm_env(settings, TEST_KEY, **prefect))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "warning: no delivery for 2024-03-05 from any partner due that day" in run.stdout
