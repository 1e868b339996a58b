"""Just enough ABI handling for the calls we make: selectors, argument encoding, output
and event decoding, revert reasons. Signatures are written in canonical form, e.g.
`Function("balanceOf(address)", ("uint256",))`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]


def _split_types(inner: str) -> list[str]:
    """Top-level comma split of a parameter list, keeping tuples together."""
    parts, depth, current = [], 0, ""
    for char in inner:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        parts.append(current)
    return parts


@dataclass(frozen=True)
class Function:
    signature: str
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        inner = self.signature[self.signature.index("(") + 1 : -1]
        object.__setattr__(self, "inputs", tuple(_split_types(inner)))

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]

    def encode(self, *args: Any) -> bytes:
        return self.selector + encode(list(self.inputs), list(args))

    def decode_output(self, data: bytes) -> tuple[Any, ...]:
        return _checksummed(self.outputs, decode(list(self.outputs), data))

    def decode_input(self, data: bytes) -> tuple[Any, ...]:
        if data[:4] != self.selector:
            raise ValueError(f"calldata is not a call to {self.signature}")
        return _checksummed(self.inputs, decode(list(self.inputs), data[4:]))


@dataclass(frozen=True)
class Event:
    """An event; `indexed` flags each parameter of the signature in order."""

    signature: str
    indexed: tuple[bool, ...]

    @property
    def topic(self) -> bytes:
        return keccak(text=self.signature)

    def decode(self, topics: Sequence[bytes], data: bytes) -> tuple[Any, ...]:
        types = _split_types(self.signature[self.signature.index("(") + 1 : -1])
        if bytes(topics[0]) != self.topic:
            raise ValueError(f"log is not a {self.signature}")
        indexed_types = [t for t, ix in zip(types, self.indexed, strict=True) if ix]
        plain_types = [t for t, ix in zip(types, self.indexed, strict=True) if not ix]
        indexed_values = iter(
            decode([t], bytes(topic))[0] for t, topic in zip(indexed_types, topics[1:], strict=True)
        )
        plain_values = iter(decode(plain_types, bytes(data)))
        values = [next(indexed_values if ix else plain_values) for ix in self.indexed]
        return _checksummed(types, values)


def _checksummed(types: Sequence[str], values: Sequence[Any]) -> tuple[Any, ...]:
    """eth-abi returns lower-case addresses; the platform uses EIP-55 everywhere."""
    return tuple(_checksum_value(t, v) for t, v in zip(types, values, strict=True))


def _checksum_value(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return tuple(_checksum_value(inner, v) for v in value)
    if abi_type.startswith("("):
        return _checksummed(_split_types(abi_type[1:-1]), value)
    return value


def revert_reason(data: bytes | None) -> str:
    """A readable reason from revert data: `Error(string)`, `Panic(uint256)` or raw hex."""
    if not data:
        return "reverted without a reason"
    if data[:4] == _ERROR_STRING:
        try:
            return str(decode(["string"], data[4:])[0])
        except Exception:  # malformed: fall through to hex
            pass
    if data[:4] == _PANIC:
        try:
            return f"panic 0x{decode(['uint256'], data[4:])[0]:02x}"
        except Exception:
            pass
    return "custom error 0x" + data.hex()
