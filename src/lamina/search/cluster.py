"""Where a search's trials run: a new local Ray, or an existing Ray cluster (``--address``).

Address forms:

- ``HOST:PORT``: the GCS port of the head node (``ray start --head --port=PORT``, default
  6379). The driver joins the cluster directly, so it must run on one of its nodes.
- ``ray://HOST:PORT``: the head node's Ray Client server (``--ray-client-server-port``, default
  10001), for a driver outside the cluster.
- ``auto``: the cluster that ``ray start`` started on this machine (or ``RAY_ADDRESS``).

Without an address, ``RAY_ADDRESS`` is used when set (as Ray's own tools do), else a new local
Ray with one CPU per parallel trial. A cluster is only ever disconnected from, never stopped.

What a cluster needs (the driver ships only configs and receives results and network bytes):
Lamina and its dependencies installed on every node, in the Python that runs the Ray workers;
the same Ray and Python versions as the driver; and the data files at the same absolute paths
on every node (a shared filesystem, or copies). The study directory is written by the driver
alone, so it needs no sharing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from lamina.errors import DependencyError, UsageError

__all__ = ["connect", "import_ray", "parse_address", "ray_address", "start_local", "start_ray"]

CLIENT_SCHEME = "ray://"
FORMS = "HOST:PORT (the head node's GCS port), ray://HOST:PORT (its Ray Client port) or auto"
REACH_TIMEOUT = 5.0  # seconds for a TCP connection: Ray itself retries a dead address for minutes
_QUIET: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        DependencyError: Ray is not installed (it comes with ``lamina[search]``).
    """
    try:
        import ray
    except ImportError:
        raise DependencyError.missing("ray", "search") from None
    return ray


def start_ray(
    address: str | None, *, parallel: int, log: Callable[[str], None]
) -> tuple[Any, bool]:
    """Ray for a search's trials, and whether this call initialized it.

    Args:
        address: ``--address`` (None: ``$RAY_ADDRESS``, else a new local Ray with ``parallel``
            CPUs).
        parallel: trials run at once (one CPU, one thread each).
        log: where notes about the cluster's size go.

    Returns:
        ``(ray, initialized)``: when ``initialized``, the caller shuts Ray down at the end (a local
        Ray stops; a cluster is only disconnected from, it keeps running). A Ray this process had
        already initialized is used as it is.

    Raises:
        UsageError: ``address`` given while Ray is already initialized in this process; the
            errors of :func:`connect`.
        DependencyError: Ray is not installed.
    """
    ray = import_ray()
    if ray.is_initialized():
        if address:
            raise UsageError(
                f"--address {address}: Ray is already initialized in this process, so the "
                "search would not run there.",
                hint="call ray.shutdown() first, or give no address to use that Ray",
            )
        return ray, False
    target = ray_address(address)
    if target:
        nodes, cpus = connect(ray, target)
        log(f"Ray cluster {target}: {nodes} node(s), {cpus} CPUs")
        if cpus < parallel:
            log(f"note: the cluster has {cpus} CPUs, so at most {cpus} of the {parallel} parallel "
                "trials run at once")  # fmt: skip
    else:
        cores = os.cpu_count() or 1
        if parallel > cores:
            log(f"note: {parallel} parallel trials share {cores} CPU cores (one thread each)")
        start_local(ray, cpus=parallel)
    return ray, True


def ray_address(option: str | None) -> str | None:
    """The cluster to use: ``option``, else ``$RAY_ADDRESS``, else ``None`` (a local Ray)."""
    return option or os.environ.get("RAY_ADDRESS") or None


def parse_address(address: str) -> tuple[str, int] | None:
    """The host and port of a cluster address; ``None`` for ``auto``.

    Args:
        address: ``HOST:PORT``, ``ray://HOST:PORT`` or ``auto`` (``[IPv6]:PORT`` too).

    Raises:
        UsageError: any other form.
    """
    text = address.strip()
    if text.lower() == "auto":
        return None
    rest = text[len(CLIENT_SCHEME) :] if text.lower().startswith(CLIENT_SCHEME) else text
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536) or "/" in rest:
        raise UsageError(
            f"--address must be {FORMS}. Got {address!r}.",
            hint="start a cluster with `ray start --head --port=6379 "
            "--ray-client-server-port=10001`; its output shows the address",
        )
    return host, int(port)


def connect(ray: Any, address: str) -> tuple[int, int]:
    """Connect this process to the Ray cluster at ``address`` (``ray.init``).

    Args:
        ray: the ``ray`` module.
        address: ``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``.

    Returns:
        The cluster's live nodes and CPUs.

    Raises:
        UsageError: a malformed address, nothing listening there (found within
            ``REACH_TIMEOUT`` seconds, before Ray's own long retries), or a cluster that refuses
            the connection (e.g. token authentication without ``RAY_AUTH_MODE=token``).
    """
    target = parse_address(address)
    if target is not None:
        _check_reachable(address, *target)
    try:
        ray.init(address="auto" if target is None else address.strip(), **_QUIET)
    except Exception as exc:  # ConnectionError, AuthenticationError, version mismatch, ...
        with contextlib.suppress(Exception):
            ray.shutdown()
        raise UsageError(
            f"--address {address}: cannot connect to the Ray cluster there: "
            f"{type(exc).__name__}: {exc}".rstrip(),
            hint=_connect_hint(address),
        ) from None
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return nodes, int(ray.cluster_resources().get("CPU", 0))


def start_local(ray: Any, *, cpus: int) -> None:
    """Start a new local Ray with ``cpus`` CPUs, even if a cluster runs on this machine.

    (``address="local"``: a plain ``ray.init()`` would join a cluster that ``ray start`` left
    on this machine, or the one ``RAY_ADDRESS`` names, and then refuse ``num_cpus``.)
    """
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, **_QUIET)


def _check_reachable(address: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=REACH_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise UsageError(
            f"--address {address}: no Ray cluster answers at {host}:{port} ({reason}).",
            hint="start one with `ray start --head --port=PORT` (HOST:PORT) or add "
            "`--ray-client-server-port=PORT` (ray://HOST:PORT); `ray status --address "
            "HOST:GCS_PORT` checks it",
        ) from None


def _connect_hint(address: str) -> str:
    hints = []
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token" and address.strip() != "auto":
        hints.append(
            "a cluster with token authentication (the default of `ray start` in recent Ray) "
            "needs RAY_AUTH_MODE=token here; the token comes from RAY_AUTH_TOKEN, "
            "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token"
        )
    if address.strip().lower().startswith(CLIENT_SCHEME):
        hints.append("ray://HOST:PORT needs the Ray Client port (`--ray-client-server-port`)")
    else:
        hints.append(
            "HOST:PORT is the GCS port (`ray start --port`) and works only on a node of the "
            "cluster; from elsewhere use ray://HOST:CLIENT_PORT"
        )
    return "; ".join(hints)
