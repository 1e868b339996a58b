"""`ReservationLedger`: what open intents commit of each wallet's tokens, in Redis.

The gate reserves what an accepted intent will pay, per (wallet, token), in one
atomic Lua call over every token the intent pays: each must satisfy
`balance - reserved >= need`, then all are reserved, else none is and the shortfalls come
back. Any number of gates (API replicas) share the ledger, so none can over-commit a
wallet, and no gate needs a lock or a scan of the strategy's open intents.

Each reservation is an entry per intent, so releasing is idempotent. Balances come from a
cache that lags the chain, so a release records the block where the intent's last
transaction was mined (0 when it sent nothing): an entry released at block R stops
counting against a balance read at block B >= R (that balance already shows the spend)
and still counts against an older one. Released entries are deleted lazily once they no
longer count and were released more than `settle` ago; the highest block of those deleted
is kept (`floor`), and a balance older than it raises `StaleBalance`, since what it is
missing can no longer be counted. Every entry also expires `grace` after its intent's
deadline, so a reservation whose intent was never published cannot leak.

Entries are rebuilt from the event log with the read model (`IntentSubmitted.reserved`).
Redis keys: `ledger:{wallet}:{token}` (a hash: intent id -> entry, plus the
floor) and `ledger:intent:{intent}` (a hash: the first kind of key -> amount), under the
settings' prefix. The release script reaches the keys an intent's hash names, so the
ledger runs on a single Redis (not a cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import redis.asyncio as aioredis

from platform_core.errors import ErrorCode, PlatformError
from platform_core.types.intent import Intent

if TYPE_CHECKING:
    from platform_core.state.projection import IntentView

GRACE = timedelta(minutes=15)
SETTLE = timedelta(minutes=1)
_FLOOR = "floor"

# Non-negative integers of any size, as canonical decimal strings: Lua numbers are doubles.
_BIG = """
local function add(a, b)
  local parts, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local x = carry
    if i > 0 then x = x + tonumber(string.sub(a, math.max(1, i - 13), i)) end
    if j > 0 then x = x + tonumber(string.sub(b, math.max(1, j - 13), j)) end
    carry = math.floor(x / 1e14)
    parts[#parts + 1] = x - carry * 1e14
    i, j = i - 14, j - 14
  end
  if #parts == 0 then return '0' end
  local out = string.format('%d', parts[#parts])
  for k = #parts - 1, 1, -1 do out = out .. string.format('%014d', parts[k]) end
  return out
end
local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end
"""
# An entry: amount|expiry (ms)|release block|release time (ms), the last two empty while open.
_PARSE = """
local function parse(entry)
  return string.match(entry, '^(%d+)|(%d+)|(%d*)|(%d*)$')
end
"""

# KEYS: the intent's hash, one ledger hash per token, then the ready marker. ARGV: intent
# id, now (ms), expiry (ms), settle (ms), then need, balance and balance block per token.
# Returns {'ok'}, {'short', reserved per token...}, {'stale', token index, floor}, or
# {'rebuilding'} when the marker is missing (Redis lost the ledger: it is being rebuilt).
_RESERVE = (
    _BIG
    + _PARSE
    + """
local intent, now, expires, settle = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return {'rebuilding'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'ok'} end
local reserved, short = {}, false
for i = 2, #KEYS - 1 do
  local key, base = KEYS[i], 5 + (i - 2) * 3
  local need, balance, block = ARGV[base], ARGV[base + 1], tonumber(ARGV[base + 2])
  local floor = tonumber(redis.call('HGET', key, 'floor') or '0')
  if block < floor then return {'stale', tostring(i - 1), tostring(floor)} end
  local sum, new_floor = '0', floor
  local entries = redis.call('HGETALL', key)
  for j = 1, #entries, 2 do
    local field = entries[j]
    if field ~= 'floor' then
      local amount, until_ms, rblock, rms = parse(entries[j + 1])
      if tonumber(until_ms) <= now then
        redis.call('HDEL', key, field)
      elseif rblock ~= '' and tonumber(rblock) <= block then
        if now - tonumber(rms) >= settle then
          redis.call('HDEL', key, field)
          new_floor = math.max(new_floor, tonumber(rblock))
        end
      else
        sum = add(sum, amount)
      end
    end
  end
  if new_floor > floor then redis.call('HSET', key, 'floor', string.format('%d', new_floor)) end
  reserved[#reserved + 1] = sum
  if not le(add(sum, need), balance) then short = true end
end
if short then return {'short', unpack(reserved)} end
for i = 2, #KEYS - 1 do
  local key, need = KEYS[i], ARGV[5 + (i - 2) * 3]
  redis.call('HSET', key, intent, need .. '|' .. expires .. '||')
  redis.call('HSET', KEYS[1], key, need)
  if redis.call('PEXPIRETIME', key) < tonumber(expires) then
    redis.call('PEXPIREAT', key, expires)
  end
end
redis.call('PEXPIREAT', KEYS[1], expires)
return {'ok'}
"""
)

# KEYS: the intent's hash. ARGV: intent id, release block, now (ms). Returns how many
# entries were released now (0 when already released, or never reserved).
_RELEASE = (
    _PARSE
    + """
local released = 0
for _, key in ipairs(redis.call('HKEYS', KEYS[1])) do
  local entry = redis.call('HGET', key, ARGV[1])
  if entry then
    local amount, until_ms, rblock = parse(entry)
    if rblock == '' then
      local done = amount .. '|' .. until_ms .. '|' .. ARGV[2] .. '|' .. ARGV[3]
      redis.call('HSET', key, ARGV[1], done)
      released = released + 1
    end
  end
end
return released
"""
)


class LedgerRebuilding(PlatformError, RuntimeError):
    """The ledger's ready marker is missing: Redis lost its data (restarted empty, flushed)
    and the state coordinator has not yet rebuilt the ledger from the event log. Nothing is
    reserved until it has, so no gate can over-commit a wallet meanwhile. Retryable."""

    code = ErrorCode.LEDGER_REBUILDING


class StaleBalance(PlatformError, RuntimeError):
    """The balance offered is older than releases the ledger has already dropped, so it
    cannot be checked exactly. Not retryable as is: it takes a fresher balance (the gate's
    chain view is behind: its market feed has stalled)."""

    code = ErrorCode.STALE_BALANCE


@dataclass(frozen=True)
class Need:
    """What an intent pays of `token` (lower case), and the wallet's balance at a block."""

    token: str
    amount: int
    balance: int
    balance_block: int


@dataclass(frozen=True)
class Shortfall:
    token: str
    need: int
    balance: int
    reserved: int  # by the strategy's other open intents, against this balance


@dataclass(frozen=True)
class Entry:
    """One intent's reservation of one token; `released_block` is None while it is open."""

    amount: int
    expires_ms: int
    released_block: int | None = None
    released_ms: int | None = None

    def encode(self) -> str:
        block = "" if self.released_block is None else str(self.released_block)
        at = "" if self.released_ms is None else str(self.released_ms)
        return f"{self.amount}|{self.expires_ms}|{block}|{at}"

    @classmethod
    def decode(cls, raw: str) -> Entry:
        amount, expires, block, at = raw.split("|")
        return cls(int(amount), int(expires), int(block) if block else None,
                   int(at) if at else None)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """An entry with where it belongs, as a rebuild writes it."""

    intent_id: str
    strategy_id: str
    wallet: str
    token: str
    entry: Entry


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def rows_from_views(
    views: Iterable[IntentView], *, now: datetime, grace: timedelta = GRACE
) -> list[Row]:
    """The ledger as the read model's views imply it: every reservation an accepted intent
    recorded, released at its last block once the intent is final; expired ones left out."""
    rows = []
    for view in views:
        if not view.reserved or view.wallet is None or view.intent is None:
            continue
        expires = millis(Intent.model_validate(view.intent).deadline + grace)
        if expires <= millis(now):
            continue
        released_block = released_ms = None
        if view.status.is_terminal:
            released_block, released_ms = view.last_block or 0, millis(view.updated_at)
        for token, amount in view.reserved.items():
            entry = Entry(amount, expires, released_block, released_ms)
            rows.append(Row(view.intent_id, view.strategy_id, view.wallet, token, entry))
    return rows


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ReservationLedger:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        grace: timedelta = GRACE,
        settle: timedelta = SETTLE,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self.clock = clock
        self.grace = grace
        self.settle = settle
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> ReservationLedger:
        return cls(aioredis.from_url(url, decode_responses=True), prefix=prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    def token_key(self, wallet: str, token: str) -> str:
        """One key per (wallet, token): every strategy trading from the wallet reserves
        against the same balance."""
        return f"{self._prefix}ledger:{wallet.lower()}:{token.lower()}"

    def intent_key(self, intent_id: UUID | str) -> str:
        return f"{self._prefix}ledger:intent:{intent_id}"

    @property
    def ready_key(self) -> str:
        """Present once the ledger holds what the event log implies: written by `rebuild`
        (`mark_ready` for a new, empty one); gone when Redis loses its data."""
        return f"{self._prefix}ledger:ready"

    async def is_ready(self) -> bool:
        return bool(await self._redis.exists(self.ready_key))

    async def mark_ready(self) -> None:
        await self._redis.set(self.ready_key, str(millis(self.clock())))

    async def reserve(
        self,
        intent_id: UUID,
        wallet: str,
        needs: Sequence[Need],
        *,
        deadline: datetime,
    ) -> tuple[Shortfall, ...]:
        """Reserve every need for `intent_id`, or nothing: () when reserved (or reserved
        before), else each token that falls short. `StaleBalance` when a balance is older
        than what the ledger can still count against it."""
        needs = [need for need in needs if need.amount > 0]
        if len({need.token.lower() for need in needs}) != len(needs):
            raise ValueError("one need per token")
        if not needs:
            return ()
        keys = [self.intent_key(intent_id)]
        settle_ms = int(self.settle.total_seconds() * 1000)
        now, expires = millis(self.clock()), millis(deadline + self.grace)
        args: list[str | int] = [str(intent_id), now, expires, settle_ms]
        for need in needs:
            keys.append(self.token_key(wallet, need.token))
            args += [str(need.amount), str(need.balance), need.balance_block]
        keys.append(self.ready_key)
        status, *rest = [_text(item) for item in await self._reserve(keys=keys, args=args)]
        if status == "rebuilding":
            raise LedgerRebuilding(
                "the reservation ledger is being rebuilt from the event log (Redis lost it)"
            )
        if status == "stale":
            need = needs[int(rest[0]) - 1]
            raise StaleBalance(
                f"{need.token} of {wallet}: a balance at block {need.balance_block} is older "
                f"than reservations released up to block {rest[1]} and let go"
            )
        if status == "ok":
            return ()
        shortfalls = tuple(
            Shortfall(need.token.lower(), need.amount, need.balance, int(reserved))
            for need, reserved in zip(needs, rest, strict=True)
            if int(reserved) + need.amount > need.balance
        )
        assert shortfalls, "the script refused: some token must fall short"
        return shortfalls

    async def release(self, intent_id: UUID | str, *, block: int | None = None) -> int:
        """Release the intent's reservations as of `block` (where its last transaction was
        mined; None when it sent nothing); how many entries this released (0: already)."""
        return await self.release_many([(intent_id, block)])

    async def release_many(self, releases: Iterable[tuple[UUID | str, int | None]]) -> int:
        """`release` for many intents in one round trip."""
        now = millis(self.clock())
        async with self._redis.pipeline(transaction=False) as pipe:
            count = 0
            for intent_id, block in releases:
                args: list[str | int] = [str(intent_id), block or 0, now]
                await self._release(keys=[self.intent_key(intent_id)], args=args, client=pipe)
                count += 1
            if not count:
                return 0
            return sum(int(n) for n in await pipe.execute())

    async def entries(self, wallet: str, token: str) -> dict[str, Entry]:
        """Intent id -> its entry for one (wallet, token), as stored."""
        raw = await self._redis.hgetall(self.token_key(wallet, token))
        return {
            _text(field): Entry.decode(_text(value))
            for field, value in raw.items()
            if _text(field) != _FLOOR
        }

    async def clear(self) -> int:
        """Delete every key of this ledger (its prefix only)."""
        keys = [key async for key in self._redis.scan_iter(match=f"{self._prefix}ledger:*")]
        return await self._redis.delete(*keys) if keys else 0

    async def rebuild(self, views: Iterable[IntentView]) -> int:
        """Replace the ledger with what `views` (folded from the event log) imply; return
        how many entries were written."""
        await self.clear()
        rows = rows_from_views(views, now=self.clock(), grace=self.grace)
        expiry: dict[str, int] = {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                key = self.token_key(row.wallet, row.token)
                intent_key = self.intent_key(row.intent_id)
                pipe.hset(key, row.intent_id, row.entry.encode())
                pipe.hset(intent_key, key, str(row.entry.amount))
                for name in (key, intent_key):
                    expiry[name] = max(expiry.get(name, 0), row.entry.expires_ms)
            for name, expires_ms in expiry.items():
                pipe.pexpireat(name, expires_ms)
            pipe.set(self.ready_key, str(millis(self.clock())))
            await pipe.execute()
        return len(rows)
