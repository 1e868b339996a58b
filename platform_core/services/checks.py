"""Health checks for each backing service (reachable, version, and the features we need)
and for each wallet's execution journal (does it match the configured chain?)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from platform_core.config import Settings

if TYPE_CHECKING:
    from platform_core.chain.client import ChainClient

CHECK_TIMEOUT_S = 3.0
JOURNAL_SETTLE_S = 1.0  # how long a journal/chain difference must persist to be reported


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    reachable: bool
    version: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    required: bool = True
    problem: str = "degraded"  # the word for "reachable, but not as it should be"

    @property
    def ok(self) -> bool:
        return self.reachable and not self.error


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


async def check_nats(url: str) -> ServiceStatus:
    import nats

    async def quiet(_: Exception) -> None:  # the default callback prints tracebacks
        return None

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                url,
                connect_timeout=CHECK_TIMEOUT_S,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                error_cb=quiet,
            ),
            CHECK_TIMEOUT_S * 2,
        )
    except Exception as exc:
        return ServiceStatus("nats", redact(url), False, error=_describe(exc))
    try:
        version = nc.connected_server_version
        try:
            info = await nc.jetstream().account_info()
            details = {"jetstream": "enabled", "streams": str(info.streams)}
            error = None
        except Exception as exc:
            details = {"jetstream": "disabled"}
            error = f"JetStream is not enabled ({_describe(exc)}): start nats-server with -js"
        return ServiceStatus(
            "nats",
            redact(url),
            True,
            f"{version.major}.{version.minor}.{version.patch}",
            details,
            error,
        )
    finally:
        await nc.close()


async def check_redis(url: str) -> ServiceStatus:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S)
    try:
        info = await asyncio.wait_for(client.info("server"), CHECK_TIMEOUT_S)
        return ServiceStatus("redis", redact(url), True, str(info.get("redis_version")))
    except Exception as exc:
        return ServiceStatus("redis", redact(url), False, error=_describe(exc))
    finally:
        await client.aclose()


async def check_postgres(dsn: str) -> ServiceStatus:
    import asyncpg

    # The server is what we check; the platform's database may not exist yet.
    server_dsn = urlsplit(dsn)._replace(path="/postgres").geturl()
    try:
        conn = await asyncpg.connect(server_dsn, timeout=CHECK_TIMEOUT_S)
    except Exception as exc:
        return ServiceStatus("postgres", redact(dsn), False, error=_describe(exc))
    try:
        version = await conn.fetchval("SHOW server_version")
        timescale = await conn.fetchval(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        details = {"timescaledb": timescale or "not available (plain PostgreSQL tables)"}
        return ServiceStatus("postgres", redact(dsn), True, str(version), details)
    finally:
        await conn.close()


async def check_chain(rpc_url: str, expected_chain_id: int) -> ServiceStatus:
    import httpx

    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "web3_clientVersion", "params": []},
    ]
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            replies = {
                r["id"]: r.get("result") for r in (await client.post(rpc_url, json=body)).json()
            }
    except Exception as exc:
        return ServiceStatus("chain", rpc_url, False, error=_describe(exc), required=False)
    chain_id = int(replies.get(1) or "0x0", 16)
    error = None
    if chain_id != expected_chain_id:
        error = f"chain id {chain_id}, expected {expected_chain_id}"
    return ServiceStatus(
        "chain", rpc_url, True, replies.get(2), {"chain_id": str(chain_id)}, error, required=False
    )


async def check_all(settings: Settings) -> list[ServiceStatus]:
    chain_id, chain = next(iter(settings.chains.items()))
    return list(
        await asyncio.gather(
            check_nats(settings.nats_url),
            check_redis(settings.redis_url),
            check_postgres(settings.postgres_dsn),
            check_chain(chain.rpc_url, chain_id),
        )
    )


async def check_journals(settings: Settings) -> list[ServiceStatus]:
    """One status per wallet journal beside `SEP_JOURNAL_PATH`, checked (read-only) against
    the configured chain: one that does not match fails (the execution actor would sign
    nothing with it); one that cannot be checked (the chain is down) is reported only."""
    from platform_core.chain.client import ChainClient
    from platform_core.chain.journal import wallet_journals

    paths = wallet_journals(settings.journal_path)
    if not paths:
        return []
    chain = next(iter(settings.chains.values()))
    client = ChainClient(chain.rpc_url, timeout_s=CHECK_TIMEOUT_S)
    try:
        return [await _check_journal(path, client) for path in paths]
    finally:
        await client.close()


async def _check_journal(path: Path, client: ChainClient) -> ServiceStatus:
    from platform_core.chain.errors import JournalChainMismatch
    from platform_core.chain.journal import Journal
    from platform_core.chain.journal_check import check_journal

    journal = Journal(path)
    try:
        await check_journal(journal, client, record=False, settle_s=JOURNAL_SETTLE_S)
        bound = journal.chain()
    except JournalChainMismatch as exc:
        return ServiceStatus("journal", str(path), True, error=str(exc), problem="mismatch")
    except Exception as exc:
        error = f"not checked against {client.rpc_url}: {_describe(exc)}"
        return ServiceStatus("journal", str(path), False, error=error, required=False)
    finally:
        journal.close()
    details = {"chain_id": str(bound[0]) if bound else "not bound yet"}
    return ServiceStatus("journal", str(path), True, details=details)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
