"""Type stub for the native module `platform_rust` (built from `rust/` by maturin)."""

from collections.abc import Iterable
from typing import Literal, overload

from typing_extensions import Buffer

__version__: str

def build_profile() -> str:
    """"release" or "debug": the Cargo profile the extension was compiled with."""

# ---------------------------------------------------------------- chain_monitor (decoding)

class Authorization:
    """One EIP-7702 authorization tuple of a type-4 transaction (immutable)."""

    @property
    def chain_id(self) -> int: ...
    @property
    def address(self) -> str:
        """Checksummed delegate address."""
    @property
    def nonce(self) -> int: ...
    @property
    def y_parity(self) -> int: ...
    @property
    def r(self) -> int: ...
    @property
    def s(self) -> int: ...
    @property
    def authority(self) -> str | None:
        """Checksummed signer when decoded with `recover_sender=True` and it recovers."""

class DecodedTransaction:
    """A decoded signed transaction of any EIP-2718 type (immutable; fields built on access)."""

    @property
    def tx_type(self) -> int:
        """0 legacy, 1 EIP-2930, 2 EIP-1559, 3 EIP-4844, 4 EIP-7702."""
    @property
    def chain_id(self) -> int | None:
        """None for a pre-EIP-155 legacy transaction."""
    @property
    def nonce(self) -> int: ...
    @property
    def to(self) -> str | None:
        """Checksummed recipient; None for a contract creation."""
    @property
    def value(self) -> int: ...
    @property
    def input(self) -> bytes: ...
    @property
    def gas_limit(self) -> int: ...
    @property
    def gas_price(self) -> int | None:
        """Legacy and EIP-2930 only."""
    @property
    def max_fee_per_gas(self) -> int | None:
        """Types 2, 3 and 4 only."""
    @property
    def max_priority_fee_per_gas(self) -> int | None:
        """Types 2, 3 and 4 only."""
    @property
    def max_fee_per_blob_gas(self) -> int | None:
        """Type 3 only."""
    @property
    def access_list(self) -> list[tuple[str, list[str]]]:
        """`[(checksummed address, [0x storage key, ...]), ...]`; empty for legacy."""
    @property
    def blob_versioned_hashes(self) -> list[str]:
        """0x hex hashes; empty unless type 3."""
    @property
    def has_blob_sidecar(self) -> bool:
        """True when the input was the type-3 network form (blobs, commitments, proofs)."""
    @property
    def authorization_list(self) -> list[Authorization]:
        """Empty unless type 4."""
    @property
    def y_parity(self) -> int: ...
    @property
    def v(self) -> int | None:
        """Legacy only: 27/28, or `chain_id * 2 + 35 + y_parity` (EIP-155)."""
    @property
    def r(self) -> int: ...
    @property
    def s(self) -> int: ...
    @property
    def hash(self) -> str:
        """0x hex transaction hash (type 3: of the form without the sidecar)."""
    @property
    def sender(self) -> str | None:
        """Checksummed signer when decoded with `recover_sender=True`, else None."""

def decode_transaction(raw: Buffer, *, recover_sender: bool = False) -> DecodedTransaction:
    """Decodes exactly one raw signed transaction (legacy RLP or `type || payload`, including
    the EIP-4844 network form). Raises ValueError on malformed input, or when
    `recover_sender=True` and the signature does not recover (high-s included)."""

@overload
def decode_transactions(
    raws: Iterable[Buffer],
    *,
    recover_sender: bool = False,
    errors: Literal["raise"] = "raise",
) -> list[DecodedTransaction]: ...
@overload
def decode_transactions(
    raws: Iterable[Buffer],
    *,
    recover_sender: bool = False,
    errors: Literal["return"],
) -> list[DecodedTransaction | ValueError]: ...
def decode_transactions(
    raws: Iterable[Buffer],
    *,
    recover_sender: bool = False,
    errors: Literal["raise", "return"] = "raise",
) -> list[DecodedTransaction] | list[DecodedTransaction | ValueError]:
    """Decodes many raw transactions with the GIL released. `errors="raise"`: the first bad
    item raises ValueError("transaction {index}: ..."); `errors="return"`: its slot holds that
    ValueError and the other items decode."""
