"""Platform configuration, read from `SEP_`-prefixed environment variables.

Every service URL has a default that matches a local development machine. The signing key
is read only from the environment (`SEP_SIGNING_KEY`) or from an encrypted keystore file
(`SEP_KEYSTORE_PATH` + `SEP_KEYSTORE_PASSWORD`); it is a `SecretStr`, so it is masked in
every repr, log line and dump.

Several wallets: `SEP_SIGNING_KEYS` (JSON, {"0xaddress": "0xkey"}) and/or `SEP_KEYSTORE_DIR`
(one encrypted keystore file per wallet, one `SEP_KEYSTORE_PASSWORD`), besides the single key;
`Settings.load_signing_keys()` gathers them all, checking each key against its address.
Validation errors never echo their input (`hide_input_in_errors`): an input may be a key.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal
from uuid import UUID

from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChainSettings(BaseModel):
    """A chain the platform knows: intents naming any other chain id are refused. `venues`
    are the venues the platform trades there (each one the deployment has gets its venue
    adapter actor); set them per chain in `SEP_CHAINS`, e.g.
    `{"42161": {"name": "arbitrum", "rpc_url": "...", "venues": ["uniswap_v3"]}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rpc_url: str
    venues: tuple[str, ...] = ("uniswap_v3", "sushiswap_v2")


# The committed model, found beside the package so a Ray worker's cwd does not matter.
# Defaults are anchored at the checkout, not the working directory: Ray workers and Serve
# replicas run wherever Ray starts them.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PRIORITY_MODEL_PATH = PROJECT_ROOT / "models" / "priority.onnx"


def _default_chains() -> dict[int, ChainSettings]:
    return {
        42161: ChainSettings(name="arbitrum", rpc_url="http://127.0.0.1:8545"),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEP_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # a rejected input may be a private key
    )

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # The time a request has to arrive: its body, from the app's first read (replicas, the
    # in-process app); its headers and (buffered) body at the HAProxy ingress. Then 408.
    api_body_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Per strategy, over every authenticated request: a bucket of `burst`, refilled at
    # `rate_limit_per_s`.
    rate_limit_per_s: float = Field(default=20.0, gt=0)
    rate_limit_burst: int = Field(default=40, ge=1)
    # The Serve deployment `IntentAPI`: `api_replicas` replicas, or with `api_autoscale_max`
    # above it, autoscaled between the two towards `api_target_ongoing_requests` per replica.
    api_replicas: int = Field(default=2, ge=1, le=64)
    api_autoscale_max: int = Field(default=0, ge=0, le=64)
    api_target_ongoing_requests: float = Field(default=16.0, gt=0)
    # What answers on api_port: Serve's HAProxy ingress (falls back to the proxy when no
    # haproxy binary is found) or Serve's own proxy.
    serve_ingress: Literal["haproxy", "proxy"] = "haproxy"
    # Each API replica's PostgreSQL connections (API keys, idempotency claims), and how long
    # it trusts a key it checked: a revoked key is refused everywhere within that time.
    api_db_pool_size: int = Field(default=8, ge=1, le=64)
    api_key_cache_s: float = Field(default=1.0, ge=0)

    # Services
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/sep"
    # Ray's GCS defaults to 6379, Redis's port: the platform's cluster uses its own.
    ray_gcs_port: int = Field(default=6380, ge=1, le=65535)
    ray_dashboard_port: int = Field(default=8265, ge=1, le=65535)
    ray_client_port: int = Field(default=10001, ge=1, le=65535)
    ray_dashboard_agent_port: int = Field(default=52365, ge=1, le=65535)
    # Where the node's metrics agent serves Prometheus text (the platform's `sep_*` metrics).
    ray_metrics_export_port: int = Field(default=8090, ge=1, le=65535)
    # Prometheus (Debian's package), started by `sep up` on Ray's generated scrape config so
    # that Ray's and the platform's series are stored and can be graphed; 0: not started.
    prometheus_port: int = Field(default=9090, ge=0, le=65535)

    # Names that let tests and dev runs share services without touching each other.
    stream_name: str = "SEP_EVENTS"
    subject_prefix: str = "events"
    redis_key_prefix: str = ""

    chains: dict[int, ChainSettings] = Field(default_factory=_default_chains)
    # Each strategy's wallet (its address only: keys live elsewhere), as JSON in
    # SEP_STRATEGY_WALLETS: {"<strategy uuid>": "0x..."}. The gate refuses other strategies.
    strategy_wallets: dict[UUID, str] = Field(default_factory=dict)

    # Chain layer. A fee estimate above the ceiling is refused, never clamped.
    fee_ceiling_wei: int = Field(default=100 * 10**9, gt=0)
    rpc_timeout_s: float = Field(default=10.0, gt=0)
    receipt_timeout_s: float = Field(default=60.0, gt=0)
    # Signed transactions are journalled here before broadcast (SQLite, fsync on commit).
    journal_path: Path = PROJECT_ROOT / ".run" / "journal.sqlite"
    # Contract addresses of the devnet (or another deployment with the same layout).
    deployment_path: Path = PROJECT_ROOT / "devnet" / "deployment.json"

    # The intent pipeline. `intent_processors` actors share one durable consumer of
    # IntentSubmitted (0 starts none: accepted intents then wait, pending). PASSIVE intents
    # are cut into one slice per `passive_slice_interval_ms` of their window.
    intent_processors: int = Field(default=2, ge=0, le=32)
    passive_slice_interval_ms: int = Field(default=60_000, ge=1_000)
    # How often each venue adapter actor looks for a new block (one eth_blockNumber; swap,
    # mint and burn logs when it moved) and publishes what changed: the planner's and the
    # API replicas' engines and balance caches are at most this far behind the chain.
    market_poll_interval_s: float = Field(default=0.25, gt=0)
    # The chain monitor (one per chain) follows new heads over the node's WebSocket
    # (`eth_subscribe`), polling every `monitor_poll_interval_s` when it has none or it fails.
    monitor_websocket: bool = True
    monitor_poll_interval_s: float = Field(default=0.25, gt=0)
    # The MarketData actor's consolidated books (Redis `book:{chain}:{base}:{quote}`): it
    # waits `book_debounce_s` after a block's first pool change (every venue's message for
    # that block then lands in one recomputation); each pool's ladder has `book_pool_levels`
    # steps over `book_max_impact_bps`; published levels are bucketed to `book_price_step_bps`.
    book_debounce_s: float = Field(default=0.05, ge=0, le=10)
    book_pool_levels: int = Field(default=120, ge=4, le=1000)
    book_max_impact_bps: float = Field(default=360.0, gt=100, le=5000)
    book_price_step_bps: float = Field(default=5.0, gt=0, le=1000)

    # Prioritiser (ONNX). One thread each by default: the machine's cores belong to many
    # replicas and actors, and a tree ensemble over a batch of 32 gains nothing from more.
    priority_model_path: Path = DEFAULT_PRIORITY_MODEL_PATH
    priority_intra_op_threads: int = Field(default=1, ge=1, le=64)
    priority_inter_op_threads: int = Field(default=1, ge=1, le=64)
    # The `Prioritizer` deployment scores the API replicas' requests in batches of up to
    # `priority_batch_size`, waiting at most `priority_batch_wait_ms` for one to fill.
    priority_batch_size: int = Field(default=32, ge=1, le=1024)
    priority_batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)

    # Signing: never from code or a committed file.
    signing_key: SecretStr | None = None
    keystore_path: Path | None = None
    keystore_password: SecretStr | None = None
    # Several wallets: {"0xaddress": "0xkey"} as JSON, and/or a folder of keystore files.
    signing_keys: dict[str, SecretStr] = Field(default_factory=dict)
    keystore_dir: Path | None = None
    # Transactions of one wallet broadcast and not yet mined, at most (the pipeline's depth).
    max_in_flight: int = Field(default=8, ge=1, le=256)

    @field_validator("strategy_wallets")
    @classmethod
    def _checksum_wallets(cls, wallets: dict[UUID, str]) -> dict[UUID, str]:
        return {strategy: to_checksum_address(address) for strategy, address in wallets.items()}

    @model_validator(mode="after")
    def _one_key_source(self) -> Settings:
        if self.signing_key is not None and self.keystore_path is not None:
            raise ValueError("set either SEP_SIGNING_KEY or SEP_KEYSTORE_PATH, not both")
        if self.keystore_path is not None and self.keystore_password is None:
            raise ValueError("SEP_KEYSTORE_PATH needs SEP_KEYSTORE_PASSWORD")
        return self

    @field_validator("signing_keys")
    @classmethod
    def _checksum_key_addresses(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return {to_checksum_address(address): key for address, key in keys.items()}

    @model_validator(mode="after")
    def _keystore_dir_password(self) -> Settings:
        if self.keystore_dir is not None and self.keystore_password is None:
            raise ValueError("SEP_KEYSTORE_DIR needs SEP_KEYSTORE_PASSWORD")
        return self

    @property
    def known_chain_ids(self) -> frozenset[int]:
        return frozenset(self.chains)

    def load_signing_key(self) -> SecretStr:
        """The private key as a `SecretStr`, decrypted from the keystore when one is set."""
        if self.signing_key is not None:
            return self.signing_key
        if self.keystore_path is None or self.keystore_password is None:
            raise LookupError("no signing key: set SEP_SIGNING_KEY or SEP_KEYSTORE_PATH")
        from eth_account import Account  # deferred: only signers need it

        keystore = json.loads(self.keystore_path.read_text())
        raw = Account.decrypt(keystore, self.keystore_password.get_secret_value())
        return SecretStr("0x" + bytes(raw).hex())

    def load_signing_keys(self) -> dict[str, SecretStr]:
        """Every configured wallet's key, by checksum address: the single key (one wallet),
        `SEP_SIGNING_KEYS` and the keystores of `SEP_KEYSTORE_DIR`. Raises `SigningKeyError`
        (`platform_core.chain.keys`) when a key is not the one of the address it is filed
        under, or a keystore does not decrypt."""
        from platform_core.chain.keys import gather_keys  # deferred: only signers need it

        single = None
        if self.signing_key is not None or self.keystore_path is not None:
            single = self.load_signing_key()
        return gather_keys(single, self.signing_keys, self.keystore_dir, self.keystore_password)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
