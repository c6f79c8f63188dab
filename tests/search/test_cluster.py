"""``lamina search --address``: a real Ray cluster started with ``ray start`` (slow), and the
errors of bad or unreachable addresses (fast, no Ray started)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lamina.cli.main import cli
from lamina.errors import UsageError
from lamina.search import cluster
from lamina.search.cluster import connect, parse_address, ray_address, start_local
from lamina.search.runner import SearchOptions

RAY = Path(sys.executable).with_name("ray")  # the venv's Ray CLI, as a user would run it


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free right now on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def search_args(files: dict[str, Path], study: Path, *extra: str) -> list[str]:
    return [
        "search",
        "-c",
        str(files["config"]),
        "-i",
        str(files["inputs"]),
        "-o",
        str(files["outputs"]),
        "--validation-fraction",
        "0.25",
        "--no-progress",
        "--study",
        str(study),
        *extra,
    ]


class FakeRay:
    """Stands in for the ``ray`` module: records ``init`` calls, never starts anything."""

    def __init__(self, *, initialized: bool = False, error: Exception | None = None) -> None:
        self.initialized, self.error = initialized, error
        self.inits: list[dict[str, Any]] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs: Any) -> None:
        self.inits.append(kwargs)
        if self.error is not None:
            raise self.error
        self.initialized = True

    def shutdown(self) -> None:
        self.initialized = False

    def nodes(self) -> list[dict[str, Any]]:
        return [{"Alive": True}, {"Alive": False}]

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 6.0}


# -- fast: addresses, without a cluster -------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("auto", None),
        (" AUTO ", None),
        ("10.0.0.5:6379", ("10.0.0.5", 6379)),
        ("ray://head.example:10001", ("head.example", 10001)),
        ("[::1]:6379", ("::1", 6379)),
    ],
)
def test_parse_address_forms(address: str, expected: tuple[str, int] | None) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    "address", ["localhost", "ray://head", "http://head:8265", "head:0", "head:70000", ":6379"]
)
def test_malformed_address_fails_before_the_study(
    address: str, search_files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="--address must be HOST:PORT") as info:
        SearchOptions(address=address)
    assert repr(address) in str(info.value) and info.value.exit_code == 2
    result = CliRunner().invoke(
        cli, search_args(search_files, tmp_path / "s", "--address", address)
    )
    assert result.exit_code == 2 and f"Got {address!r}" in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_is_a_usage_error(
    scheme: str,
    search_files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing listens on the port: a clear error at once (Ray itself retries for minutes)."""
    fake = FakeRay()
    monkeypatch.setattr(cluster, "import_ray", lambda: fake)
    (port,) = free_ports(1)
    address = f"{scheme}127.0.0.1:{port}"
    result = CliRunner().invoke(
        cli, search_args(search_files, tmp_path / "s", "--address", address)
    )
    assert result.exit_code == 2, result.output
    assert f"error: --address {address}: no Ray cluster answers at 127.0.0.1:{port}" in (
        result.output
    )
    assert "ray start --head" in result.output and fake.inits == []


def test_ray_address_variable_is_the_default_cluster(
    search_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "import_ray", lambda: FakeRay())
    (port,) = free_ports(1)
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    assert ray_address(None) == f"127.0.0.1:{port}" and ray_address("auto") == "auto"
    result = CliRunner().invoke(cli, search_args(search_files, tmp_path / "s"))
    assert result.exit_code == 2 and f"--address 127.0.0.1:{port}: no Ray cluster" in result.output
    monkeypatch.delenv("RAY_ADDRESS")
    assert ray_address(None) is None


def test_refused_connection_names_the_address_and_token_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Something listens, but ``ray.init`` fails (as with token auth and no RAY_AUTH_MODE)."""
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        fake = FakeRay(error=ConnectionError("Failed to connect to Ray cluster at 10.1.1.1:7"))
        with pytest.raises(UsageError) as info:
            connect(fake, f"127.0.0.1:{port}")
        text = str(info.value)
        assert text.startswith(f"--address 127.0.0.1:{port}: cannot connect")
        assert "ConnectionError: Failed to connect" in text and "RAY_AUTH_MODE=token" in text
        assert fake.inits[0]["address"] == f"127.0.0.1:{port}" and not fake.initialized
        monkeypatch.setenv("RAY_AUTH_MODE", "token")  # already set: no token advice
        with pytest.raises(UsageError, match="Ray Client port") as info:
            connect(fake, f"ray://127.0.0.1:{port}")
        assert "RAY_AUTH_MODE" not in str(info.value)
        assert connect(FakeRay(), f"127.0.0.1:{port}") == (1, 6)  # live nodes, CPUs


def test_local_ray_ignores_clusters_and_an_initialized_ray_refuses_an_address(
    search_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRay()
    start_local(fake, cpus=3)
    # "local": a plain ray.init() would join a `ray start` cluster of this machine
    assert fake.inits == [fake.inits[0]] and fake.inits[0]["address"] == "local"
    assert fake.inits[0]["num_cpus"] == 3
    monkeypatch.setattr(cluster, "import_ray", lambda: FakeRay(initialized=True))
    args = search_args(search_files, tmp_path / "s", "--address", "auto")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Ray is already initialized in this process" in result.output


# -- slow: a real cluster -------------------------------------------------------------------
@pytest.fixture
def ray_cluster() -> Iterator[dict[str, Any]]:
    """A one-node Ray cluster (2 CPUs, token authentication with a token of its own) started by
    ``ray start --head --block`` in its own process group; stopped (that group only) at the end.

    Its temp dir is private, so it is invisible to other Ray users of this machine (a plain
    ``ray.init()`` or ``--address auto`` elsewhere never finds it)."""
    if not RAY.is_file() and shutil.which("ray") is None:
        pytest.skip("the `ray` executable is not installed (pip install 'lamina[search]')")
    ray_cli = str(RAY) if RAY.is_file() else str(shutil.which("ray"))
    gcs, client, *agents = free_ports(7)
    temp = Path(tempfile.mkdtemp(prefix="lray-", dir="/tmp"))  # short: Unix socket paths
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    command = [
        ray_cli,
        "start",
        "--head",
        "--block",
        f"--port={gcs}",
        f"--ray-client-server-port={client}",
        "--num-cpus=2",
        "--disable-usage-stats",
        "--include-dashboard=false",
        f"--temp-dir={temp}",
        f"--node-manager-port={agents[0]}",
        f"--object-manager-port={agents[1]}",
        f"--dashboard-agent-listen-port={agents[2]}",
        f"--dashboard-agent-grpc-port={agents[3]}",
        f"--runtime-env-agent-port={agents[4]}",
    ]
    log = (temp / "head.log").open("w")
    head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in (temp / "head.log").read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed:\n{(temp / 'head.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"gcs": gcs, "client": client, "env": env, "temp": temp, "head": head}
    finally:
        _stop(head)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _stop(head: subprocess.Popen[bytes]) -> None:
    """SIGTERM to `ray start --block` (it stops its processes), then SIGKILL its process group
    (it made itself the group leader) for anything left: only this cluster's processes."""
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait()


def _trial_tasks(temp: Path, expected: int) -> int:
    """``trial_main`` task starts logged by the cluster's workers (``:task_name:`` markers)."""
    found = 0
    for _ in range(40):  # the markers reach the files as workers flush
        files = temp.glob("session_latest/logs/worker-*.out")
        found = sum(f.read_text().count(":task_name:trial_main") for f in files)
        if found >= expected:
            break
        time.sleep(0.25)
    return found


def _statuses(study: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(study.glob("trials/*/status.json"))]


@pytest.mark.slow
def test_search_runs_on_a_cluster(
    ray_cluster: dict[str, Any], search_files: dict[str, Path], tmp_path: Path
) -> None:
    """Both address forms run their trials on the cluster, which outlives the drivers; a driver
    without token mode gets a clear error."""
    env, temp, gcs = ray_cluster["env"], ray_cluster["temp"], ray_cluster["gcs"]
    runs = [(f"127.0.0.1:{gcs}", 4), (f"ray://127.0.0.1:{ray_cluster['client']}", 2)]
    total = 0
    for i, (address, trials) in enumerate(runs):
        study = tmp_path / f"study{i}"
        args = search_args(search_files, study, "--address", address, "-e", "2")
        args += ["--trials", str(trials), "--parallel", "2", "--no-early-stop", "--seed", "5"]
        done = subprocess.run(
            [sys.executable, "-m", "lamina", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"Ray cluster {address}: 1 node(s), 2 CPUs" in done.stderr
        assert "best: trial" in done.stdout
        statuses = _statuses(study)
        assert len(statuses) == trials
        assert all(s["state"] == "completed" and s["epochs"] == 2 for s in statuses)
        assert len(list(study.glob("trials/*/network.nc"))) == trials
        total += trials
        # the cluster's own workers ran exactly these trials (no other Ray was used)
        assert _trial_tasks(temp, total) == total
        assert ray_cluster["head"].poll() is None  # the driver left the cluster running

    # Ray's default token authentication: a driver without RAY_AUTH_MODE=token is refused
    plain = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    args = search_args(search_files, tmp_path / "refused", "--address", f"127.0.0.1:{gcs}")
    refused = subprocess.run(
        [sys.executable, "-m", "lamina", *args, "--trials", "1"],
        env=plain,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"error: --address 127.0.0.1:{gcs}: cannot connect" in refused.stderr
    assert "RAY_AUTH_MODE=token" in refused.stderr
    assert _trial_tasks(temp, total) == total
