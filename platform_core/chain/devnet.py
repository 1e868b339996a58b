"""The local devnet: an anvil process started from the committed saved state.

Used by `make devnet` (`devnet/run.py`) and by the integration tests, which start their
own instance on a free port. The state is committed gzipped (anvil reads only plain JSON),
so it is unpacked next to the process's log first.
"""

from __future__ import annotations

import ctypes
import gzip
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVNET_DIR = REPO_ROOT / "devnet"
ANVIL_BINARY = DEVNET_DIR / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
STATE_FILE = DEVNET_DIR / "state.json.gz"
DEPLOYMENT_FILE = DEVNET_DIR / "deployment.json"
DEVNET_CHAIN_ID = 42161


@dataclass
class AnvilProcess:
    pid: int
    port: int
    host: str
    log_path: Path

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_deployment(path: Path = DEPLOYMENT_FILE) -> dict[str, Any]:
    deployment: dict[str, Any] = json.loads(path.read_text())
    return deployment


def unpack_state(work_dir: Path, state_file: Path = STATE_FILE) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / "devnet-state.json"
    with gzip.open(state_file, "rb") as src:
        target.write_bytes(src.read())
    return target


def start_anvil(
    work_dir: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    state_file: Path | None = STATE_FILE,
    extra_args: tuple[str, ...] = (),
    timeout_s: float = 30.0,
    die_with_parent: bool = False,
) -> AnvilProcess:
    """Start anvil (chain id 42161) in its own session and wait until it answers RPC.

    `die_with_parent` (tests) has the kernel stop anvil if the starting process dies
    without cleaning up, so no anvil outlives a killed test run.
    """
    if not ANVIL_BINARY.exists():
        raise FileNotFoundError(f"anvil not found at {ANVIL_BINARY}: run `npm ci --prefix devnet`")
    if _listening(host, port):
        raise RuntimeError(f"port {port} is already in use: is a devnet already running?")
    # Quiet: anvil's banner lists the private keys of its accounts, the platform's devnet
    # wallets among them, and no log may hold a signing key (the chaos run's canaries).
    cmd = [str(ANVIL_BINARY), "--host", host, "--port", str(port), "--quiet"]
    cmd += ["--chain-id", str(DEVNET_CHAIN_ID), *extra_args]
    if state_file is not None:
        cmd += ["--load-state", str(unpack_state(work_dir, state_file))]
    log_path = work_dir / f"anvil-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the caller's Ctrl-C; stopped by pid
            preexec_fn=_exit_with_parent if die_with_parent else None,
        )
    deadline = time.monotonic() + timeout_s
    while not _answers_rpc(host, port):
        if proc.poll() is not None:
            raise RuntimeError(f"anvil exited with {proc.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            stop_anvil(proc.pid)
            raise TimeoutError(f"anvil did not answer on {host}:{port} within {timeout_s}s")
        time.sleep(0.05)
    return AnvilProcess(pid=proc.pid, port=port, host=host, log_path=log_path)


def _exit_with_parent() -> None:
    # prctl(PR_SET_PDEATHSIG, SIGTERM): Linux only, a no-op where it is unavailable.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def stop_anvil(pid: int, timeout_s: float = 10.0) -> None:
    """Stop the anvil process group started by `start_anvil` and reap it if it is ours."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                return
        except ChildProcessError:  # not our child: poll for its end instead
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _answers_rpc(host: str, port: int) -> bool:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    request = urllib.request.Request(
        f"http://{host}:{port}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False
