"""Shared value types: addresses, amounts, assets."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from eth_utils import to_checksum_address
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from platform_core.types.errors import rule_error

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# Longest decimal string accepted for an amount: a uint256 has 78 digits, plus a point.
_MAX_DECIMAL_CHARS = 80
UINT256_MAX = 2**256 - 1


def checksum_address(value: Any) -> str:
    """Validate a 20-byte hex address and return its EIP-55 checksum form.

    All-lower and all-upper hex carry no checksum and are accepted; mixed case must be
    a correct EIP-55 checksum, since a wrong one usually means a mistyped address.
    """
    if not isinstance(value, str) or not _HEX_ADDRESS.match(value):
        raise rule_error(
            "address_format", "must be a 20-byte hex address: 0x followed by 40 hex digits"
        )
    digits = value[2:]
    checksummed = to_checksum_address(value)
    if digits != digits.lower() and digits != digits.upper() and value != checksummed:
        raise rule_error(
            "address_checksum",
            f"mixed-case address fails its EIP-55 checksum (expected {checksummed})",
        )
    return checksummed


Address = Annotated[str, BeforeValidator(checksum_address)]


def parse_decimal(value: Any, *, field: str = "value") -> Decimal:
    """A finite decimal from a string or an int; floats are refused (they lose digits)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise rule_error(
            "decimal_string_required",
            f'{field} must be a decimal string such as "1.5" (a JSON number may lose digits)',
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_DECIMAL_CHARS:
            raise rule_error("decimal_format", f"{field} must be a decimal string")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise rule_error("decimal_format", f"{field} must be a decimal string") from None
    else:
        raise rule_error("decimal_format", f"{field} must be a decimal string")
    if not result.is_finite():
        raise rule_error("decimal_format", f"{field} must be a finite number")
    return result


def fractional_digits(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _parse_wei(value: Any) -> int:
    if isinstance(value, bool):
        raise rule_error("wei_format", "must be an integer amount in base units")
    if isinstance(value, str) and value.isdigit() and len(value) <= 78:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
        raise rule_error("wei_format", "must be an integer amount in base units (uint256)")
    return value


# On-chain amounts in base units. Serialised as decimal strings: JSON numbers above 2**53
# are silently rounded by many clients.
Wei = Annotated[int, BeforeValidator(_parse_wei), PlainSerializer(str, when_used="json")]

Symbol = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9.\-_+$]+$")
]
VenueName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$"),
]


class Asset(BaseModel):
    """A token on a chain. The address is the identity; symbol and decimals are claims
    that the validator checks against the chain.

    Whether the chain is configured is not this model's rule: an asset in a stored event
    decodes whatever `SEP_CHAINS` says today. Intake checks it (`IntentSubmission`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol
    address: Address
    decimals: int = Field(ge=0, le=36, strict=True)
    chain_id: int = Field(strict=True)

    @property
    def key(self) -> tuple[int, str]:
        return (self.chain_id, self.address)
