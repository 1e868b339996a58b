"""The signer: holds one private key and turns transaction fields into signed bytes.

The key comes from `Settings.load_signing_key()` (environment or encrypted keystore) and
never leaves this object: its repr shows only the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr

from platform_core.config import Settings


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: bytes


class Signer:
    __slots__ = ("_account",)

    def __init__(self, key: SecretStr) -> None:
        try:
            self._account: LocalAccount = Account.from_key(key.get_secret_value())
        except Exception:
            # The library's message may echo the input; ours never does.
            raise ValueError("the signing key is not a valid secp256k1 private key") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        return cls(settings.load_signing_key())

    @property
    def address(self) -> str:
        return self._account.address

    def sign(self, fields: dict[str, Any]) -> SignedTx:
        signed = self._account.sign_transaction(fields)
        return SignedTx(raw=bytes(signed.raw_transaction), hash=bytes(signed.hash))

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer holds a private key and is not picklable")
