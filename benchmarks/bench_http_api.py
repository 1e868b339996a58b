"""The HTTP API as a strategy sees it: intents accepted per second, and an intent's time
from submit to broadcast and to COMPLETED.

Part `throughput`: the whole platform started by `sep up` in an isolated environment (its
own ports, database, Redis prefix, stream and devnet), with the rate limit out of the way
and no intent processors, so accepted intents stay pending and trigger no swaps; once behind
Serve's proxy and once behind its HAProxy ingress (`SEP_SERVE_INGRESS`), in the same run.
A load generator (httpx, 16 or 64 requests in flight, 3 s warm-up, then 10 s measured)
POSTs a small intent (the seed's, for 0.01 WETH) to `/intents` with a fresh
Idempotency-Key each time, as 1 strategy or in turn as 30 (30 API keys; the strategies
share the devnet's 9 funded wallets). Baseline, same run, ingress and replica count: a
trivial endpoint deployed beside the API (`trivial_serve_app`: read the body, answer 202).
Also: the Prioritizer's batch sizes under each load, the trivial endpoint against a bare
FastAPI under uvicorn (1 worker), and which ingress is faster here. The load generator runs
on the same two cores as what it measures.

Part `lifecycle`: the platform with its default intent processors; the seed intent is
submitted N times, one after another, each followed until a terminal status. Baseline, on
the same devnet: the same swap done directly with eth-account (quote, sign, send, receipt)
from devnet wallet 2.

SEP_BENCH_HTTP_PARTS=throughput,lifecycle selects the parts (default: both).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from benchmarks.report import percentile, print_table
from platform_core.config import Settings
from tests.integration.conftest import drop_test_resources, free_port
from tests.platform_env import SEED_STRATEGY, isolated_platform_env

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_INTENT = REPO_ROOT / "tests" / "fixtures" / "seed_intent.json"
DEV_MNEMONIC = "test test test test test test test test test test test junk"  # anvil's, public
SEP = [sys.executable, "-m", "platform_core.cli"]
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
PARTS_ENV = "SEP_BENCH_HTTP_PARTS"

WARMUP_S = 3.0
MEASURE_S = 10.0
SLICES = 3  # the measured window is also reported in slices: a drift shows
REQUEST_TIMEOUT_S = 30.0
UP_TIMEOUT_S = 300
DOWN_TIMEOUT_S = 180

LIFECYCLE_INTENTS = 5
LIFECYCLE_TIMEOUT_S = 90.0
TERMINAL = {"completed", "partially_filled", "failed", "expired", "cancelled", "denied"}

# The devnet's contracts and tokens (devnet/deployment.json): the direct swap's baseline.
WETH_USDC_FEE = 500
USDC_IN = 4_500 * 10**6  # about 1.5 WETH at the pool's 3,000 USDC


class NoResult(Exception):
    """A figure that could not be measured: a one-line reason for the table, and the
    evidence (a log tail) printed once below it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail


_TELLING = re.compile(r"ALERT|Error|error|failed|Exception|Traceback")


def _gist(text: str, width: int = 220) -> str:
    """The line of a failed command's output that says most: its first HAProxy ALERT, else
    its last error-looking line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    alerts = [line for line in lines if "ALERT" in line]
    telling = [line for line in lines if _TELLING.search(line)]
    line = alerts[0] if alerts else (telling or lines or ["(no output)"])[-1]
    return line if len(line) <= width else line[: width - 3] + "..."


# --- the bare baseline app ----------------------------------------------------------------


def baseline_app() -> FastAPI:
    """The least a FastAPI service can do for a POST: read the body, answer 202 with a
    small JSON receipt. Started by uvicorn as a factory (`--factory`), in its own process.
    Request and JSONResponse are imported at module level: FastAPI resolves the string
    annotations against the module's globals."""
    app = FastAPI()

    @app.post("/intents", status_code=202)
    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"intent_id": str(uuid.uuid4()), "status": "pending"}, 202)

    return app


@contextlib.contextmanager
def _bare_fastapi() -> Iterator[str]:
    """uvicorn, one worker, on a free port; stopped whatever happens."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory",
           "benchmarks.bench_http_api:baseline_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--log-level", "warning",
           "--no-access-log"]  # fmt: skip
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env={**os.environ, **RAY_ENV}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                out = log.read().decode(errors="replace")
                raise NoResult(f"uvicorn exited with {proc.returncode}: {_gist(out)}", _tail(out))
            try:
                httpx.get(f"{base}/docs", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise NoResult("uvicorn did not answer within 30 s") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


# --- the platform, isolated -----------------------------------------------------------------


@dataclass
class Platform:
    base: str
    env: dict[str, str]
    token: str
    run_dir: Path
    up_s: float  # `sep up` and the API key, for the record

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    @property
    def rpc_url(self) -> str:
        return next(iter(json.loads(self.env["SEP_CHAINS"]).values()))["rpc_url"]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def dev_key(index: int) -> str:
    """A devnet wallet's private key from anvil's public mnemonic (devnet only)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account.key.to_0x_hex()


@contextlib.contextmanager
def _platform(label: str, extra_env: dict[str, str]) -> Iterator[Platform]:
    """`sep up` as tests/e2e does it (free ports, names of its own, its own devnet), an API
    key for the seed strategy; `sep down` and the names dropped whatever happens. The run
    folder is removed unless something failed, when its logs are worth reading."""
    tag = uuid.uuid4().hex[:10]
    run_dir = Path(tempfile.mkdtemp(prefix=f"sep-bench-{label}-"))
    # Whether intent processors run is the benchmark's choice, never the caller's shell's.
    inherited = {k: v for k, v in os.environ.items() if k != "SEP_INTENT_PROCESSORS"}
    env = {
        **inherited,
        **RAY_ENV,
        **isolated_platform_env(tag, run_dir),
        # What is measured is the API, not the per-strategy rate limiter.
        "SEP_RATE_LIMIT_PER_S": "100000",
        "SEP_RATE_LIMIT_BURST": "100000",
        **extra_env,
    }
    ok = False
    try:
        started = time.monotonic()
        up = subprocess.run(
            [*SEP, "up"], env=env, capture_output=True, text=True, timeout=UP_TIMEOUT_S
        )
        if up.returncode != 0:
            out = up.stdout + up.stderr
            raise NoResult(f"`sep up` failed ({label}): {_gist(out)}", _tail(out))
        keys = subprocess.run(
            [*SEP, "keys", "create", "--strategy", SEED_STRATEGY],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = [line for line in keys.stdout.splitlines() if line.startswith("api key")]
        if keys.returncode != 0 or not lines:
            out = keys.stdout + keys.stderr
            raise NoResult(f"`sep keys create` failed: {_gist(out)}", _tail(out))
        base, token = f"http://127.0.0.1:{env['SEP_API_PORT']}", lines[0].split()[-1]
        yield Platform(base, env, token, run_dir, time.monotonic() - started)
        ok = True
    except subprocess.TimeoutExpired as exc:
        raise NoResult(f"`{' '.join(map(str, exc.cmd[-2:]))}` timed out ({label})") from None
    finally:
        ok = _sep_down(label, env, run_dir) and ok
        try:
            drop_test_resources(tag)
        except Exception as exc:  # reported, never hiding the figures measured
            ok = False
            print(f"  ({label}: dropping the isolated names failed: {exc!r})")
        if ok:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"  ({label}: logs kept in {run_dir})")


def _sep_down(label: str, env: dict[str, str], run_dir: Path) -> bool:
    """`sep down`, once more if the first left something in the run record (a stop
    command that overran its time makes `sep down` give up on the rest); True when the
    record ends empty. Whatever is left is printed, with its pid."""
    record = run_dir / "started.json"
    for attempt in (1, 2):
        try:
            down = subprocess.run(
                [*SEP, "down"], env=env, capture_output=True, text=True, timeout=DOWN_TIMEOUT_S
            )
            if down.returncode != 0:
                print(
                    f"  ({label}: `sep down` #{attempt} failed: {_gist(down.stdout + down.stderr)})"
                )
        except subprocess.TimeoutExpired:
            print(f"  ({label}: `sep down` #{attempt} timed out after {DOWN_TIMEOUT_S} s)")
        left = json.loads(record.read_text()) if record.exists() else []
        if not left:
            return attempt == 1
    print(
        f"  ({label}: STILL RUNNING after two `sep down`: {[(e['name'], e['pid']) for e in left]})"
    )
    return False


# --- part 1: throughput ---------------------------------------------------------------------

INGRESSES = {"proxy": "Serve proxy", "haproxy": "HAProxy ingress"}  # SEP_SERVE_INGRESS
IN_FLIGHT = (16, 64)
STRATEGIES = (1, 30)
BENCH_WETH = "0.01"  # per intent: about 30 USDC reserved, so no wallet runs dry in a run
TRIVIAL_PREFIX = "/trivial"


@dataclass
class LoadResult:
    """What the load generator saw inside the measured window."""

    statuses: Counter[str] = field(default_factory=Counter)
    accepted_latency_s: list[float] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)  # completion, s into the window
    samples: dict[str, str] = field(default_factory=dict)  # one body per non-202 status
    batches: tuple[float, int] | None = None  # the Prioritizer's rows per run: mean, max

    @property
    def accepted_per_s(self) -> float:
        return len(self.accepted_latency_s) / MEASURE_S

    def slice_rates(self) -> list[float]:
        width = MEASURE_S / SLICES
        counts = Counter(min(SLICES - 1, int(t // width)) for t in self.accepted_at)
        return [counts[i] / width for i in range(SLICES)]

    def latency_ms(self, q: float) -> float:
        if not self.accepted_latency_s:
            raise NoResult(f"no 202 answers ({self.describe()})")
        if q == 0.5:
            return statistics.median(self.accepted_latency_s) * 1e3
        return percentile(self.accepted_latency_s, q) * 1e3

    def describe(self) -> str:
        return ", ".join(f"{n} x {s}" for s, n in sorted(self.statuses.items())) or "none"


@dataclass(frozen=True)
class Caller:
    """A strategy as the load generator plays it: its key and its intent's bytes."""

    headers: dict[str, str]
    body: bytes


async def _load(url: str, callers: list[Caller], in_flight: int) -> LoadResult:
    """`in_flight` workers POST back to back for WARMUP_S + MEASURE_S, each request as the
    next strategy in turn; only answers that complete inside the measured window count. A
    distinct Idempotency-Key per request, so each one is a new intent."""
    result = LoadResult()
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    turns = itertools.count()
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        start = time.perf_counter()
        window_start, window_end = start + WARMUP_S, start + WARMUP_S + MEASURE_S

        async def worker() -> None:
            while time.perf_counter() < window_end:
                caller = callers[next(turns) % len(callers)]
                headers = {**caller.headers, "content-type": "application/json",
                           "idempotency-key": f"bench-{uuid.uuid4().hex}"}  # fmt: skip
                sent = time.perf_counter()
                try:
                    response = await client.post(url, content=caller.body, headers=headers)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    response, status = None, type(exc).__name__
                done = time.perf_counter()
                if window_start <= done <= window_end:
                    _count(result, status, response, done - sent, done - window_start)

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return result


def _count(
    result: LoadResult, status: str, response: httpx.Response | None, took: float, at: float
) -> None:
    result.statuses[status] += 1
    if status == "202":
        result.accepted_latency_s.append(took)
        result.accepted_at.append(at)
    elif response is not None and status not in result.samples:
        result.samples[status] = response.text[:300]


def _measure(url: str, callers: list[Caller], in_flight: int) -> LoadResult:
    return asyncio.run(_load(url, callers, in_flight))


# The bench's strategies: the seed strategy and more of its own, spread over the devnet's
# funded wallets (several strategies share one).
def _strategies(count: int) -> list[str]:
    return [SEED_STRATEGY] + [f"00000000-0000-4000-8000-{i:012x}" for i in range(1, count)]


def _wallets_env(strategies: list[str]) -> dict[str, str]:
    deployment = json.loads((REPO_ROOT / "devnet" / "deployment.json").read_text())
    wallets = [w["address"] for w in deployment["wallets"]]
    owners = {s: wallets[i % len(wallets)] for i, s in enumerate(strategies)}
    return {"SEP_STRATEGY_WALLETS": json.dumps(owners)}


async def _issue_keys(postgres_dsn: str, strategies: list[str]) -> list[str]:
    from platform_core.api.keys import ApiKeys
    from platform_core.state.event_store import EventStore

    store = await EventStore.connect(postgres_dsn)
    try:
        keys = ApiKeys(store.pool)
        return [(await keys.issue(uuid.UUID(s))).token for s in strategies]
    finally:
        await store.close()


def _callers(platform: Platform, strategies: list[str]) -> list[Caller]:
    """Each strategy's key and a small intent of its own (the seed's, for BENCH_WETH)."""
    tokens = asyncio.run(_issue_keys(platform.env["SEP_POSTGRES_DSN"], strategies))
    intent = json.loads(SEED_INTENT.read_text())
    intent["assets"][0]["amount"] = BENCH_WETH
    return [
        Caller({"authorization": f"Bearer {token}"},
               json.dumps({**intent, "strategy_id": strategy}).encode())
        for strategy, token in zip(strategies, tokens, strict=True)
    ]  # fmt: skip


def trivial_serve_app(args: dict[str, Any]) -> Any:
    """Serve application builder (an `import_path` of a Serve config): `baseline_app` as a
    Serve ingress with `args["replicas"]` replicas, deployed beside the platform's API on
    the same ingress: the gate's baseline."""
    from ray import serve

    deployment = serve.deployment(
        name="Trivial", num_replicas=int(args["replicas"]),
        ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256,
    )  # fmt: skip
    return deployment(serve.ingress(baseline_app())()).bind()


def _deploy_trivial(platform: Platform) -> str:
    """The trivial endpoint on the platform's Serve, with as many replicas as the API (the
    config `sep up` rendered, plus one application): its URL once it answers 202."""
    config = yaml.safe_load((platform.run_dir / "serve_config.yaml").read_text())
    (api,) = config["applications"][0]["deployments"]
    replicas = api.get("autoscaling_config", {}).get("min_replicas", api.get("num_replicas"))
    config["applications"].append(
        {"name": "bench-trivial", "route_prefix": TRIVIAL_PREFIX, "args": {"replicas": replicas},
         "import_path": "benchmarks.bench_http_api:trivial_serve_app"}
    )  # fmt: skip
    path = platform.run_dir / "serve_config_bench.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    dashboard = f"http://127.0.0.1:{platform.env['SEP_RAY_DASHBOARD_PORT']}"
    deploy = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "serve"), "deploy", str(path), "-a", dashboard],
        env=platform.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if deploy.returncode != 0:
        out = deploy.stdout + deploy.stderr
        raise NoResult(f"deploying the trivial endpoint failed: {_gist(out)}", _tail(out))
    url = f"{platform.base}{TRIVIAL_PREFIX}/intents"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(url, content=b"{}", timeout=5).status_code == 202:
                return url
        time.sleep(0.5)
    raise NoResult("the trivial endpoint did not answer 202 within 120 s")


# A Ray driver of its own for the Prioritizer's `stats()`: one line in, one JSON line out.
_STATS_DRIVER = """
import json, logging, sys
import ray
from ray import serve
ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False)
handle = serve.get_deployment_handle("Prioritizer", app_name="sep")
for _ in sys.stdin:
    print(json.dumps(handle.stats.remote().result(timeout_s=30)), flush=True)
"""


@contextlib.contextmanager
def _prioritizer(platform: Platform) -> Iterator[Callable[[], dict[str, Any]]]:
    """The Prioritizer deployment's `stats()` (its batch sizes so far), asked through a
    driver process on the platform's cluster (not this one: Serve keeps its handles
    process-wide, across clusters)."""
    gcs = f"127.0.0.1:{platform.env['SEP_RAY_GCS_PORT']}"
    with (platform.run_dir / "stats-driver.log").open("w") as log:
        driver = subprocess.Popen(
            [sys.executable, "-c", _STATS_DRIVER, gcs], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, text=True, env=platform.env, cwd=REPO_ROOT,
        )  # fmt: skip
    assert driver.stdin is not None and driver.stdout is not None
    stdin, stdout = driver.stdin, driver.stdout

    def stats() -> dict[str, Any]:
        stdin.write("\n")
        stdin.flush()
        line = stdout.readline()
        while line and not line.startswith("{"):  # a log line of Ray's
            line = stdout.readline()
        if not line:
            raise NoResult(f"the stats driver exited; see {platform.run_dir / 'stats-driver.log'}")
        answer: dict[str, Any] = json.loads(line)
        answer["by_size"] = {int(k): n for k, n in answer["by_size"].items()}
        return answer

    try:
        yield stats
    finally:
        stdin.close()
        try:
            driver.wait(timeout=30)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait(timeout=10)


def _batches_between(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, int]:
    """Rows per ONNX run (mean, largest) of the batches run between two `stats()`."""
    runs = {
        size: n - before["by_size"].get(size, 0)
        for size, n in after["by_size"].items()
        if n > before["by_size"].get(size, 0)
    }
    count = sum(runs.values())
    if not count:
        raise NoResult("the Prioritizer ran no batch in the window")
    return sum(size * n for size, n in runs.items()) / count, max(runs)


@dataclass
class IngressRun:
    """One platform behind one ingress: the trivial endpoint and the gate, loaded."""

    trivial: dict[int, LoadResult | NoResult] = field(default_factory=dict)  # by in flight
    gate: dict[tuple[int, int], LoadResult | NoResult] = field(default_factory=dict)
    setup: str = ""


def _ingress_run(ingress: str) -> IngressRun | NoResult:
    """`sep up` behind `ingress` (no intent processors: accepted intents stay pending), the
    trivial endpoint beside the API, then every load: trivial, and the gate for each
    number of strategies and requests in flight."""
    strategies = _strategies(max(STRATEGIES))
    extra = {"SEP_SERVE_INGRESS": ingress, "SEP_INTENT_PROCESSORS": "0",
             "SEP_PROMETHEUS_PORT": "0", **_wallets_env(strategies)}  # fmt: skip
    run = IngressRun()
    try:
        with _platform(ingress, extra) as platform:
            _check_ingress(platform, ingress)
            callers = _callers(platform, strategies)
            trivial = _deploy_trivial(platform)
            run.setup = f"`sep up` + keys in {platform.up_s:.0f} s"
            for n in IN_FLIGHT:
                run.trivial[n] = _attempt("trivial", partial(_measure, trivial, callers[:1], n))
            with _prioritizer(platform) as stats:
                for count, n in itertools.product(STRATEGIES, IN_FLIGHT):
                    run.gate[count, n] = _gate_load(platform, callers[:count], n, stats)
    except NoResult as exc:
        return exc
    except Exception as exc:  # a broken run is reported, never replaced by a number
        return NoResult(f"{ingress}: {type(exc).__name__}: {exc}")
    return run


def _check_ingress(platform: Platform, ingress: str) -> None:
    """The ingress asked for is the one answering: with HAProxy, it wrote its config among
    the run's files (otherwise its figures would be the proxy's under another name)."""
    wrote = any((platform.run_dir / "haproxy").rglob("haproxy.cfg"))
    if wrote != (ingress == "haproxy"):
        said = "HAProxy" if wrote else "no HAProxy"
        raise NoResult(f"asked for SEP_SERVE_INGRESS={ingress}, found {said} running")


def _gate_load(
    platform: Platform, callers: list[Caller], in_flight: int, stats: Callable[[], dict[str, Any]]
) -> LoadResult | NoResult:
    """The real gate loaded, and the Prioritizer's batches while it was."""
    before = stats()
    run = _attempt("gate", partial(_measure, f"{platform.base}/intents", callers, in_flight))
    if isinstance(run, LoadResult):
        with contextlib.suppress(NoResult):
            run.batches = _batches_between(before, stats())
    return run


def _attempt(label: str, fn: Callable[[], LoadResult]) -> LoadResult | NoResult:
    """One measurement; a failure becomes a printed reason instead of a missing table."""
    try:
        return fn()
    except NoResult as exc:
        return exc
    except Exception as exc:  # a broken run is reported, never replaced by a number
        return NoResult(f"{label}: {type(exc).__name__}: {exc}")


def _bare_fastapi_load(in_flight: int) -> LoadResult:
    # The bare app ignores the key; the bytes are the same.
    caller = Caller({"authorization": "Bearer bench"}, SEED_INTENT.read_bytes())
    with _bare_fastapi() as base:
        return _measure(f"{base}/intents", [caller], in_flight)


def _throughput() -> None:
    bare = {n: _attempt("bare FastAPI", partial(_bare_fastapi_load, n)) for n in IN_FLIGHT}
    runs = {ingress: _ingress_run(ingress) for ingress in INGRESSES}
    for ingress, run in runs.items():
        _print_ingress(INGRESSES[ingress], run)
    _print_ingresses(runs, bare)


def _label(count: int, in_flight: int) -> str:
    return f"{count} strateg{'y' if count == 1 else 'ies'}, {in_flight} in flight"


def _print_ingress(name: str, run: IngressRun | NoResult) -> None:
    if isinstance(run, NoResult):
        _print_no_result(name, run)
        return
    rows: list[tuple[str, Any, Any, str]] = []
    batches: list[tuple[str, Any, Any, str]] = []
    for (count, in_flight), gate in run.gate.items():
        trivial, label = run.trivial[in_flight], _label(count, in_flight)
        rows += [
            (f"accepted/s, {label}", _rate(gate), _rate(trivial), "req/s"),
            (f"p50 latency, {label}", _lat(gate, 0.5), _lat(trivial, 0.5), "ms"),
            (f"p99 latency, {label}", _lat(gate, 0.99), _lat(trivial, 0.99), "ms"),
        ]
        seen = gate.batches if isinstance(gate, LoadResult) else None
        mean, largest = seen or (NoResult("no batch seen"),) * 2
        batches += [(f"mean rows per run, {label}", mean, 1.0, "rows"),
                    (f"largest batch, {label}", largest, 1.0, "rows")]  # fmt: skip
    _print_rows(
        f"POST /intents through the {name} ({run.setup}): the gate vs a trivial endpoint on "
        f"the same ingress and replicas, {MEASURE_S:g} s after a {WARMUP_S:g} s warm-up; "
        "only 202 counts",
        rows,
    )
    _print_rows(f"{name}: the Prioritizer's rows per ONNX run under each gate load, vs "
                "one row per run unbatched", batches)  # fmt: skip
    loads = {f"trivial, {n} in flight": r for n, r in run.trivial.items()}
    loads |= {f"gate, {_label(*key)}": r for key, r in run.gate.items()}
    for what, load in loads.items():
        _print_load(f"{name}, {what}", load)


def _print_load(name: str, run: LoadResult | NoResult) -> None:
    if isinstance(run, NoResult):
        _print_no_result(name, run)
        return
    slices = ", ".join(f"{r:,.1f}" for r in run.slice_rates())
    print(f"  {name}: answers {run.describe()}; accepted/s by {MEASURE_S / SLICES:g} s "
          f"slice: {slices}")  # fmt: skip
    for status, sample in run.samples.items():
        print(f"    first {status} body: {sample}")


def _trivial(run: IngressRun | NoResult, in_flight: int) -> LoadResult | NoResult:
    return run if isinstance(run, NoResult) else run.trivial[in_flight]


def _gate(run: IngressRun | NoResult, key: tuple[int, int]) -> LoadResult | NoResult:
    return run if isinstance(run, NoResult) else run.gate[key]


def _print_ingresses(
    runs: dict[str, IngressRun | NoResult], bare: dict[int, LoadResult | NoResult]
) -> None:
    """HAProxy against Serve's proxy, same run; each against bare FastAPI; which is faster."""
    hap, proxy = runs["haproxy"], runs["proxy"]
    rows = [(f"trivial, {n} in flight", _rate(_trivial(hap, n)), _rate(_trivial(proxy, n)),
             "req/s") for n in IN_FLIGHT]  # fmt: skip
    rows += [(f"gate, {_label(*key)}", _rate(_gate(hap, key)), _rate(_gate(proxy, key)),
              "req/s") for key in itertools.product(STRATEGIES, IN_FLIGHT)]  # fmt: skip
    _print_rows("Accepted/s: HAProxy ingress vs Serve proxy, same run", rows)
    rows = [(f"{INGRESSES[i]}, {n} in flight", _rate(_trivial(runs[i], n)), _rate(bare[n]),
             "req/s") for i in INGRESSES for n in IN_FLIGHT]  # fmt: skip
    _print_rows("Accepted/s: the trivial endpoint through Serve vs bare FastAPI (uvicorn, "
                "1 worker)", rows)  # fmt: skip
    for n, run in bare.items():
        _print_load(f"bare FastAPI, {n} in flight", run)
    heaviest = (max(STRATEGIES), max(IN_FLIGHT))
    figures = {i: _rate(_gate(runs[i], heaviest)) for i in INGRESSES}
    default = Settings.model_fields["serve_ingress"].default
    rates = {i: f for i, f in figures.items() if isinstance(f, float)}
    if len(rates) == len(INGRESSES):
        faster = max(rates, key=lambda i: rates[i])
        print(f"  faster here: {INGRESSES[faster]} (gate, {_label(*heaviest)}); "
              f"`sep up`'s default: SEP_SERVE_INGRESS={default}")  # fmt: skip


def _rate(run: LoadResult | NoResult) -> float | NoResult:
    return run if isinstance(run, NoResult) else run.accepted_per_s


def _lat(run: LoadResult | NoResult, q: float) -> float | NoResult:
    if isinstance(run, NoResult):
        return run
    try:
        return run.latency_ms(q)
    except NoResult as exc:
        return exc


def _print_rows(title: str, rows: list[tuple[str, Any, Any, str]]) -> None:
    """print_table for the rows with both figures; the others on a line of their own with
    the reason, never a number."""
    print_table(title, [r for r in rows if not _missing(r)])
    for measure, ours, baseline, _unit in rows:
        if _missing((measure, ours, baseline, _unit)):
            why = ours if isinstance(ours, NoResult) else baseline
            print(f"  {measure:<44} no result: {why}")


def _print_no_result(name: str, exc: NoResult) -> None:
    print(f"  {name}: no result: {exc}")
    for line in exc.detail.splitlines():
        print(f"    | {line}")


def _missing(row: tuple[str, Any, Any, str]) -> bool:
    return isinstance(row[1], NoResult) or isinstance(row[2], NoResult)


# --- part 2: lifecycle ----------------------------------------------------------------------


@dataclass
class Lifecycle:
    broadcast_s: list[float] = field(default_factory=list)
    completed_s: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None  # why the series stopped early


async def _follow_intents(platform: Platform) -> Lifecycle:
    """Submit the seed intent LIFECYCLE_INTENTS times, one after another, each followed to
    a terminal status; the first one that does not end within the timeout ends the series
    (the rest would wait for the same thing)."""
    result = Lifecycle()
    body = SEED_INTENT.read_bytes()
    headers = {**platform.headers, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=platform.base, timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(LIFECYCLE_INTENTS):
            submitted = datetime.now(UTC)
            answer = await client.post(
                "/intents",
                content=body,
                headers={**headers, "idempotency-key": f"bench-{uuid.uuid4().hex}"},
            )
            if answer.status_code != 202:
                result.stopped = f"POST /intents answered {answer.status_code}: {answer.text}"
                break
            intent_id = answer.json()["intent_id"]
            status = await _wait_terminal(client, platform.headers, intent_id)
            if status not in TERMINAL:
                result.stopped = (
                    f"intent {intent_id} still {status} after {LIFECYCLE_TIMEOUT_S:g} s"
                )
                break
            result.outcomes[status] += 1
            page = await client.get(f"/intents/{intent_id}/events", headers=platform.headers)
            events = page.json()["events"]
            at = {
                kind: min(
                    (
                        datetime.fromisoformat(e["occurred_at"])
                        for e in events
                        if e["event_type"] == kind
                    ),
                    default=None,
                )
                for kind in ("ExecutionStepSubmitted", "ExecutionCompleted")
            }
            if at["ExecutionStepSubmitted"] is not None:
                result.broadcast_s.append(
                    (at["ExecutionStepSubmitted"] - submitted).total_seconds()
                )
            if at["ExecutionCompleted"] is not None:
                result.completed_s.append((at["ExecutionCompleted"] - submitted).total_seconds())
    return result


async def _wait_terminal(client: httpx.AsyncClient, headers: dict[str, str], intent_id: str) -> str:
    """The intent's status once terminal, or the last one seen when the timeout passes (404
    while the event log does not have it yet counts as not yet)."""
    deadline = time.monotonic() + LIFECYCLE_TIMEOUT_S
    status = "unseen"
    while time.monotonic() < deadline:
        answer = await client.get(f"/intents/{intent_id}", headers=headers)
        if answer.status_code == 200:
            status = answer.json()["status"]
            if status in TERMINAL:
                return status
        await asyncio.sleep(0.05)
    return status


@dataclass
class DirectSwaps:
    broadcast_s: list[float] = field(default_factory=list)  # start -> node accepted the tx
    completed_s: list[float] = field(default_factory=list)  # start -> receipt
    send_to_receipt_s: list[float] = field(default_factory=list)


async def _direct_swaps(rpc_url: str, count: int, usdc_in: int = USDC_IN) -> DirectSwaps:
    """The seed intent's swap (`usdc_in` USDC for WETH) without the platform: from devnet
    wallet 2, quote USDC -> WETH in the 0.05 % pool, sign exactInputSingle with 0.5 %
    slippage, send, wait for the receipt. The router approval is set up first, not timed."""
    from eth_abi import decode, encode
    from eth_account import Account
    from eth_utils import function_signature_to_4byte_selector
    from web3 import AsyncHTTPProvider, AsyncWeb3

    def call(name: str, types: list[str], args: list[Any]) -> bytes:
        selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
        return selector + encode(types, args)

    deployment = json.loads((REPO_ROOT / "devnet" / "deployment.json").read_text())
    usdc = deployment["tokens"]["USDC"]["address"]
    weth = deployment["tokens"]["WETH"]["address"]
    router = deployment["uniswap_v3"]["swap_router"]
    quoter = deployment["uniswap_v3"]["quoter_v2"]
    account = Account.from_key(dev_key(2))
    w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))
    chain_id = await w3.eth.chain_id

    async def send(to: str, data: bytes) -> tuple[float, float]:
        """(seconds until the node took it, seconds until its receipt), from now."""
        start = time.perf_counter()
        tx: dict[str, Any] = {"from": account.address, "to": to, "data": data, "value": 0}
        tx["gas"] = await w3.eth.estimate_gas(tx)
        tx["gasPrice"] = await w3.eth.gas_price
        tx["nonce"] = await w3.eth.get_transaction_count(account.address, "pending")
        tx["chainId"] = chain_id
        del tx["from"]
        signed = account.sign_transaction(tx)
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
        sent = time.perf_counter()
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.02)
        if receipt["status"] != 1:
            raise NoResult(f"direct transaction to {to} reverted")
        return sent - start, time.perf_counter() - start

    result = DirectSwaps()
    allowance = call("allowance", ["address", "address"], [account.address, router])
    owed = decode(["uint256"], await w3.eth.call({"to": usdc, "data": allowance}))[0]
    if owed < usdc_in * count:
        await send(usdc, call("approve", ["address", "uint256"], [router, 2**256 - 1]))
    for _ in range(count):
        start = time.perf_counter()
        quote_args = [(usdc, weth, usdc_in, WETH_USDC_FEE, 0)]
        quote = call(
            "quoteExactInputSingle", ["(address,address,uint256,uint24,uint160)"], quote_args
        )
        out = decode(
            ["uint256", "uint160", "uint32", "uint256"],
            await w3.eth.call({"to": quoter, "data": quote}),
        )[0]
        deadline = (await w3.eth.get_block("latest"))["timestamp"] + 600
        params = (
            usdc,
            weth,
            WETH_USDC_FEE,
            account.address,
            deadline,
            usdc_in,
            out * 995 // 1000,
            0,
        )
        swap = call(
            "exactInputSingle",
            ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
            [params],
        )
        prepared = time.perf_counter() - start
        to_node, to_receipt = await send(router, swap)
        result.broadcast_s.append(prepared + to_node)
        result.completed_s.append(prepared + to_receipt)
        result.send_to_receipt_s.append(to_receipt - to_node)
    return result


def _lifecycle() -> None:
    extra = {"SEP_SIGNING_KEY": dev_key(1)}  # the seed strategy trades from devnet wallet 1
    direct: DirectSwaps | NoResult = NoResult("not measured: the platform did not come up")
    ours: Lifecycle | NoResult
    try:
        with _platform("lifecycle", extra) as platform:
            try:
                direct = asyncio.run(_direct_swaps(platform.rpc_url, LIFECYCLE_INTENTS))
            except Exception as exc:
                direct = exc if isinstance(exc, NoResult) else NoResult(f"{exc!r}")
            ours = asyncio.run(_follow_intents(platform))
    except NoResult as exc:
        ours = exc
    except Exception as exc:
        ours = NoResult(f"{type(exc).__name__}: {exc}")

    def figure(run: Any, attr: str, stat: str) -> float | NoResult:
        if isinstance(run, NoResult):
            return run
        samples = getattr(run, attr)
        if not samples:
            why = getattr(run, "stopped", None) or "no such event in any intent's log"
            outcomes = getattr(run, "outcomes", None)
            if outcomes:
                why += f" (outcomes: {dict(outcomes)})"
            return NoResult(why)
        value = statistics.median(samples) if stat == "p50" else max(samples)
        return value * 1e3

    title = (
        f"Seed intent, {LIFECYCLE_INTENTS} one after another, platform (default processors) "
        "vs the same swap sent directly"
    )
    rows: list[tuple[str, Any, Any, str]] = []
    for stat in ("p50", "max"):
        rows.append(
            (
                f"submit -> first broadcast, {stat}",
                figure(ours, "broadcast_s", stat),
                figure(direct, "broadcast_s", stat),
                "ms",
            )
        )
    for stat in ("p50", "max"):
        rows.append(
            (
                f"submit -> COMPLETED, {stat}",
                figure(ours, "completed_s", stat),
                figure(direct, "completed_s", stat),
                "ms",
            )
        )
    _print_rows(title, rows)
    for name, run in (("platform", ours), ("direct", direct)):
        if isinstance(run, NoResult) and run.detail:
            _print_no_result(name, run)
    if isinstance(direct, DirectSwaps):
        send = statistics.median(direct.send_to_receipt_s) * 1e3
        print(f"  direct: send -> receipt p50 {send:,.1f} ms (devnet wallet 2, anvil automine)")
    if isinstance(ours, Lifecycle):
        print(
            f"  platform: outcomes {dict(ours.outcomes) or 'none'}"
            + (f"; stopped: {ours.stopped}" if ours.stopped else "")
        )


# --- entry ----------------------------------------------------------------------------------


def main() -> None:
    parts = {p.strip() for p in os.environ.get(PARTS_ENV, "throughput,lifecycle").split(",") if p}
    unknown = parts - {"throughput", "lifecycle"}
    if unknown:
        raise ValueError(f"{PARTS_ENV}: unknown part(s) {sorted(unknown)}")
    if "throughput" in parts:
        _throughput()
    if "lifecycle" in parts:
        _lifecycle()


if __name__ == "__main__":
    main()
