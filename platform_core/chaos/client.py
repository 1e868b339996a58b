"""Runs a chaos `Workload` against the API, over HTTP, recording every call.

Each action is sent at its time (`at` x `time_scale` after the start), many in flight at
once. Every request becomes one `ApiCall`, appended to the JSON lines file as it completes.
A request that gets no answer (timeout, connection refused or reset) or a retryable one
(429, 500, 502, 503, 504, or a 202 without an intent id) is sent again after a back-off
(honouring `Retry-After`), under the same Idempotency-Key for a submission, as its own
`ApiCall` with `attempt` + 1, up to `max_attempts`. A `Resubmit` is recorded under the
client name `<name>:dup` (its attempts numbered from 0), so deliberate duplicates can be
told from retries. A `Cancel` waits for its submission's 202, then `after_accept_s`.

Every accepted intent is followed with `GET /intents/{id}`: first when it should be done
(AGGRESSIVE: `follow_first_s` after its 202; PASSIVE: its window), then every
`follow_interval_s` (growing to `follow_interval_max_s`), paced per strategy
(`follow_rate_per_s`, under the API's per-strategy rate limit), until it is final or
`follow_timeout_s` has passed since the last action was done. Those GETs are recorded too.

Nothing the server answers crashes the client: bodies that are not JSON are kept as text,
and any error of the client itself is counted in `Summary.client_errors`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from platform_core.chaos.history import ApiCall, Op, write_jsonl
from platform_core.chaos.workload import Action, Cancel, Resubmit, Submit, Workload
from platform_core.types.intent import IntentStatus

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TERMINAL = frozenset(s.value for s in IntentStatus if s.is_terminal)


@dataclass(frozen=True)
class ClientConfig:
    name: str = "workload"
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    max_attempts: int = 4  # per request, the first included
    backoff_s: float = 0.5  # doubled each attempt, with jitter, at most backoff_max_s
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 30.0
    max_in_flight: int = 256
    time_scale: float = 1.0  # multiplies every scheduled time (tests compress the schedule)
    follow_first_s: float = 1.0
    follow_interval_s: float = 1.0
    follow_interval_max_s: float = 5.0
    follow_timeout_s: float = 120.0  # after the last action is done
    follow_rate_per_s: float = 8.0  # follow GETs per strategy per second
    progress_every_s: float = 5.0


@dataclass
class Summary:
    calls: Counter[str] = field(default_factory=Counter)  # "submit 202", "get none", ...
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> intent id
    strategies: dict[str, str] = field(default_factory=dict)  # intent id -> strategy id
    final: dict[str, str] = field(default_factory=dict)  # intent id -> final status
    last_seen: dict[str, str] = field(default_factory=dict)  # intent id -> last status read
    gave_up: Counter[str] = field(default_factory=Counter)  # op -> requests out of attempts
    cancels_skipped: int = 0  # their submission was never accepted
    client_errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def not_final(self) -> dict[str, str]:
        return {i: self.last_seen.get(i, "unseen") for i in self.strategies if i not in self.final}

    def line(self) -> str:
        calls = " ".join(f"{k}:{v}" for k, v in sorted(self.calls.items()))
        finals = Counter(self.final.values())
        return (
            f"calls[{calls}] accepted {len(self.strategies)} final {dict(sorted(finals.items()))}"
            f" open {len(self.strategies) - len(self.final)}"
        )


Progress = Callable[[Summary], None]


class _Pacer:
    """At most `rate` starts per second (for one strategy's follow GETs)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        at = max(now, self.next)
        self.next = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


def retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _parse(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.text


def _intent_id(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("intent_id"), str):
        return str(body["intent_id"])
    return None


class WorkloadClient:
    def __init__(
        self,
        workload: Workload,
        base_url: str,
        api_keys: Mapping[str, str],
        out: Path,
        *,
        config: ClientConfig | None = None,
        progress: Progress | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        missing = {s.strategy_id for s in workload.submissions} - set(api_keys)
        if missing:
            raise ValueError(f"no API key for strategies {sorted(missing)}")
        self.workload = workload
        self.base_url = base_url
        self.api_keys = dict(api_keys)
        self.out = out
        self.config = config or ClientConfig()
        self.progress = progress
        self.transport = transport
        self.summary = Summary()
        self._subs = workload.by_key()
        self._content = {k: json.dumps(s.body).encode() for k, s in self._subs.items()}
        self._done: dict[str, asyncio.Event] = {}  # key -> its first submission has ended
        self._accepted_at: dict[str, float] = {}  # key -> monotonic time of its first 202
        self._pacers = {s: _Pacer(self.config.follow_rate_per_s) for s in self.api_keys}
        self._deadline: float | None = None  # follow GETs stop after it (set at the end)
        self._follows: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._sem = asyncio.Semaphore(self.config.max_in_flight)
        self._start = 0.0
        self._http: httpx.AsyncClient | None = None

    # -- running ------------------------------------------------------------------------

    async def run(self) -> Summary:
        c = self.config
        timeout = httpx.Timeout(c.request_timeout_s, connect=c.connect_timeout_s)
        limits = httpx.Limits(max_connections=c.max_in_flight,
                              max_keepalive_connections=c.max_in_flight)  # fmt: skip
        self.summary.started = time.time()
        reporter = asyncio.create_task(self._report()) if self.progress else None
        try:
            http = httpx.AsyncClient(
                base_url=self.base_url, timeout=timeout, limits=limits, transport=self.transport
            )
            async with http:
                self._http = http
                await self._dispatch()
        finally:
            if reporter is not None:
                reporter.cancel()
        self.summary.ended = time.time()
        if self.progress:
            self.progress(self.summary)
        return self.summary

    async def _dispatch(self) -> None:
        """Each action at its time; then the follows, until final or the deadline."""
        self._start = time.monotonic()
        for key in self._subs:
            self._done[key] = asyncio.Event()
        actions: list[asyncio.Task[None]] = []
        try:
            for action in self.workload.actions:
                delay = self._start + action.at * self.config.time_scale - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                actions.append(asyncio.create_task(self._guarded(self._act(action))))
            await asyncio.gather(*actions)
            self._deadline = time.monotonic() + self.config.follow_timeout_s
            while pending := [t for t in self._follows if not t.done()]:
                await asyncio.gather(*pending)
        finally:  # cancelled: stop what is still running
            for task in [*actions, *self._follows]:
                task.cancel()

    async def _report(self) -> None:
        assert self.progress is not None
        while True:
            await asyncio.sleep(self.config.progress_every_s)
            try:
                self.progress(self.summary)
            except Exception as exc:  # a broken callback must not stop the run
                self.summary.client_errors.append(f"progress: {exc!r}")

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.summary.client_errors.append(repr(exc))

    async def _act(self, action: Action) -> None:
        if isinstance(action, Submit):
            try:
                await self._submit(action.idempotency_key, self.config.name)
            finally:
                self._done[action.idempotency_key].set()
        elif isinstance(action, Resubmit):
            await self._submit(action.idempotency_key, f"{self.config.name}:dup")
        elif isinstance(action, Cancel):
            await self._cancel(action)

    # -- the requests --------------------------------------------------------------------

    def _headers(self, strategy_id: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_keys[strategy_id]}"}

    async def _submit(self, key: str, client: str) -> None:
        sub = self._subs[key]
        headers = {**self._headers(sub.strategy_id), "content-type": "application/json",
                   "idempotency-key": key}  # fmt: skip
        content = self._content[key]

        def send(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return http.post("/intents", content=content, headers=headers)

        call = await self._with_retries(
            send, client=client, op="submit", strategy_id=sub.strategy_id, key=key,
            request=sub.body, target=None,
        )  # fmt: skip
        if call is not None and call.status == 202 and call.intent_id is not None:
            self._accepted(key, call.intent_id, sub)

    def _accepted(self, key: str, intent_id: str, sub: Submit) -> None:
        self._accepted_at.setdefault(key, time.monotonic())
        self.summary.accepted.setdefault(key, intent_id)
        if intent_id in self.summary.strategies:
            return
        self.summary.strategies[intent_id] = sub.strategy_id
        constraints = sub.body.get("constraints", {})
        first = self.config.follow_first_s
        if constraints.get("execution_style") == "passive":
            first = max(first, float(constraints.get("time_window_ms", 0)) / 1000)
        task = asyncio.create_task(self._guarded(self._follow(intent_id, sub.strategy_id, first)))
        self._follows.add(task)
        task.add_done_callback(self._follows.discard)

    async def _cancel(self, action: Cancel) -> None:
        await self._done[action.idempotency_key].wait()
        intent_id = self.summary.accepted.get(action.idempotency_key)
        if intent_id is None:
            self.summary.cancels_skipped += 1
            return
        at = self._accepted_at[action.idempotency_key] + action.after_accept_s * (
            self.config.time_scale
        )
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        headers = self._headers(action.strategy_id)

        def send(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return http.post(f"/intents/{intent_id}/cancel", headers=headers)

        await self._with_retries(
            send, client=self.config.name, op="cancel", strategy_id=action.strategy_id,
            key=None, request=None, target=intent_id,
        )  # fmt: skip

    async def _follow(self, intent_id: str, strategy_id: str, first_s: float) -> None:
        c = self.config
        headers = self._headers(strategy_id)
        pause = first_s * c.time_scale
        interval = c.follow_interval_s
        while True:
            if self._deadline is not None:
                pause = min(pause, max(0.0, self._deadline - time.monotonic()))
            await asyncio.sleep(pause)
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return
            await self._pacers[strategy_id].wait()

            def send(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
                return http.get(f"/intents/{intent_id}", headers=headers)

            call, response = await self._request(
                send, client=c.name, op="get", strategy_id=strategy_id, key=None,
                request=None, target=intent_id, attempt=0,
            )  # fmt: skip
            pause = interval
            interval = min(interval * 1.5, c.follow_interval_max_s)
            if call.status == 200 and isinstance(call.body, dict):
                status = str(call.body.get("status"))
                self.summary.last_seen[intent_id] = status
                if status in TERMINAL:
                    self.summary.final[intent_id] = status
                    return
            elif response is not None and call.status in RETRY_STATUSES:
                pause = max(pause, min(retry_after_s(response) or 0.0, c.retry_after_max_s))

    async def _with_retries(
        self,
        send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
        *,
        client: str,
        op: Op,
        strategy_id: str,
        key: str | None,
        request: dict[str, Any] | None,
        target: str | None,
    ) -> ApiCall | None:
        """The last call made: the first usable answer, or the last of `max_attempts`."""
        c = self.config
        call: ApiCall | None = None
        for attempt in range(c.max_attempts):
            call, response = await self._request(
                send, client=client, op=op, strategy_id=strategy_id, key=key,
                request=request, target=target, attempt=attempt,
            )  # fmt: skip
            if not self._retryable(call):
                return call
            if attempt == c.max_attempts - 1:
                break
            delay = min(c.backoff_s * 2**attempt, c.backoff_max_s) * self._rng.uniform(0.5, 1.0)
            hinted = retry_after_s(response) if response is not None else None
            if hinted is not None:
                delay = max(delay, min(hinted, c.retry_after_max_s))
            await asyncio.sleep(delay)
        self.summary.gave_up[op] += 1
        return call

    @staticmethod
    def _retryable(call: ApiCall) -> bool:
        if call.status is None or call.status in RETRY_STATUSES:
            return True
        # An acceptance whose receipt cannot be read: the same key tells us what it was.
        return call.op == "submit" and call.status == 202 and call.intent_id is None

    async def _request(
        self,
        send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
        *,
        client: str,
        op: Op,
        strategy_id: str,
        key: str | None,
        request: dict[str, Any] | None,
        target: str | None,
        attempt: int,
    ) -> tuple[ApiCall, httpx.Response | None]:
        assert self._http is not None
        status: int | None = None
        body: Any = None
        error: str | None = None
        response: httpx.Response | None = None
        async with self._sem:
            started = time.time()
            try:
                response = await send(self._http)
                status, body = response.status_code, _parse(response)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # timeouts, refused or reset connections, anything else
                error = f"{type(exc).__name__}: {exc}"[:500]
            ended = time.time()
        intent_id = _intent_id(body) if op == "submit" else target
        call = ApiCall(client=client, op=op, strategy_id=strategy_id, idempotency_key=key,
                       request=request, status=status, body=body, intent_id=intent_id,
                       started=started, ended=ended, attempt=attempt, error=error)  # fmt: skip
        self._record(call)
        return call, response

    def _record(self, call: ApiCall) -> None:
        self.summary.calls[f"{call.op} {call.status if call.status is not None else 'none'}"] += 1
        try:
            write_jsonl(self.out, [call])
        except (OSError, TypeError, ValueError) as exc:
            self.summary.client_errors.append(f"record: {exc!r}")


async def run_workload(
    workload: Workload,
    base_url: str,
    api_keys: Mapping[str, str],
    out: Path,
    *,
    config: ClientConfig | None = None,
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    """Send `workload` to the API at `base_url` (`api_keys`: strategy id -> key), append
    every call to `out` (JSON lines of `ApiCall`), follow every accepted intent; the
    counts, the accepted intents and their final statuses."""
    client = WorkloadClient(workload, base_url, api_keys, out, config=config,
                            progress=progress, transport=transport)  # fmt: skip
    return await client.run()
