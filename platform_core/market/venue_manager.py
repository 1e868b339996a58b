"""Hands out venue adapters by (venue name, chain id)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from platform_core.chain.client import ChainClient
from platform_core.config import Settings
from platform_core.market.adapter import VenueAdapter
from platform_core.market.uniswap_v2 import UniswapV2Adapter, UniswapV2Addresses
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses

# Deployment sections that are Uniswap V2 forks, by venue name: one `UniswapV2Adapter` each.
V2_VENUES = ("sushiswap_v2", "uniswap_v2")


def deployed_venues(deployment: Mapping[str, object]) -> list[str]:
    """The venues a deployment file describes, by name."""
    return [venue for venue in ("uniswap_v3", *V2_VENUES) if venue in deployment]


class VenueManager:
    def __init__(self) -> None:
        self._adapters: dict[tuple[str, int], VenueAdapter] = {}

    def register(self, adapter: VenueAdapter) -> None:
        key = (adapter.venue, adapter.chain_id)
        if key in self._adapters:
            raise ValueError(f"venue {adapter.venue} on chain {adapter.chain_id} is registered")
        self._adapters[key] = adapter

    def get(self, venue: str, chain_id: int) -> VenueAdapter:
        try:
            return self._adapters[(venue, chain_id)]
        except KeyError:
            known = ", ".join(f"{v}@{c}" for v, c in sorted(self._adapters)) or "none"
            raise LookupError(f"no venue {venue!r} on chain {chain_id} (known: {known})") from None

    def venues(self, chain_id: int) -> list[str]:
        return sorted(v for v, c in self._adapters if c == chain_id)

    @classmethod
    def for_deployment(
        cls, client: ChainClient, chain_id: int, deployment: dict[str, object]
    ) -> VenueManager:
        """The venues a deployment file (such as `devnet/deployment.json`) describes: Uniswap
        V3 (`uniswap_v3`) and each V2 fork of `V2_VENUES` (`sushiswap_v2` on the devnet)."""
        manager = cls()
        if "uniswap_v3" in deployment:
            addresses = UniswapV3Addresses.from_deployment(deployment)
            manager.register(UniswapV3Adapter(client, chain_id, addresses))
        for venue in V2_VENUES:
            if venue in deployment:
                v2 = UniswapV2Addresses.from_deployment(deployment, venue)
                manager.register(UniswapV2Adapter(client, chain_id, v2, venue))
        return manager

    @classmethod
    def from_settings(cls, settings: Settings) -> VenueManager:
        """Adapters for every configured chain that the deployment file describes, each
        with its own client on the chain's RPC URL."""
        path = settings.deployment_path
        if not path.is_absolute() and not path.exists():
            path = Path(__file__).resolve().parents[2] / path  # relative to the repository
        deployment = json.loads(path.read_text())
        manager = cls()
        for chain_id, chain in settings.chains.items():
            if chain_id != deployment["chain_id"]:
                continue
            client = ChainClient(chain.rpc_url, timeout_s=settings.rpc_timeout_s)
            for adapter in cls.for_deployment(client, chain_id, deployment)._adapters.values():
                if adapter.venue in chain.venues:
                    manager.register(adapter)
        return manager
