"""The Intent: what a strategy wants done, and the receipt it gets back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from platform_core.config import get_settings
from platform_core.types.common import (
    UINT256_MAX,
    Asset,
    VenueName,
    fractional_digits,
    parse_decimal,
)
from platform_core.types.errors import rule_error
from platform_core.types.ids import uuid7

MIN_TIME_WINDOW_MS = 1_000
MAX_TIME_WINDOW_MS = 24 * 60 * 60 * 1_000
MAX_SLIPPAGE = Decimal("0.5")
MAX_ASSETS = 16
MAX_VENUES = 32

# The JSON schema of the submission carries the rules intake enforces, so that a request valid
# against the published schema is refused only for what depends on live state (the chain's
# tokens, balances and routes) or on rules between items (an asset listed twice, venues both
# allowed and excluded). The schema may be stricter than intake at the edges (exponent
# notation, leading-dot decimals, nulls for absent fields are accepted but not published);
# it is never looser. It is documentation only: validation is the models' own.
_DECIMAL_CHARS = 80  # parse_decimal's limit
_UINT256_DIGITS = 77  # an amount below 10**77 base units fits a uint256


def amount_pattern(decimals: int) -> str:
    """A positive decimal with at most `decimals` fractional digits (trailing zeros aside)
    whose base units fit a uint256."""
    integer = rf"0*[1-9][0-9]{{0,{_UINT256_DIGITS - 1 - decimals}}}"
    if decimals == 0:
        return rf"^{integer}(\.0+)?$"
    fraction = rf"\.[0-9]{{1,{decimals}}}0*"
    below_one = rf"0*\.[0-9]{{0,{decimals - 1}}}[1-9]0*"
    return rf"^({integer}({fraction})?|{below_one})$"


_AMOUNT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": _DECIMAL_CHARS,
    "description": 'A positive decimal string ("1.5"), with no more fractional digits than the '
    "asset's decimals; its base units must fit a uint256",
}
_PERCENTAGE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": _DECIMAL_CHARS,
    "pattern": r"^([1-9][0-9]?(\.[0-9]+)?|0?\.[0-9]*[1-9][0-9]*|100(\.0+)?)$",
    "description": "A share of the wallet's balance, in (0, 100]",
}
_SIZED: dict[str, Any] = {"anyOf": [{"required": ["amount"]}, {"required": ["percentage"]}]}


def _asset_spec_schema(schema: dict[str, Any]) -> None:
    # Not both an amount and a percentage; an amount's precision is its asset's decimals.
    schema["not"] = {"required": ["amount", "percentage"]}
    schema["anyOf"] = [{"not": {"required": ["amount"]}}] + [
        {
            "properties": {
                "asset": {"properties": {"decimals": {"const": decimals}}},
                "amount": {"pattern": amount_pattern(decimals)},
            }
        }
        for decimals in range(37)
    ]


_SLIPPAGE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_SLIPPAGE)},
        {"type": "string", "pattern": r"^0?\.([0-4][0-9]*[1-9][0-9]*|[1-4][0-9]*|50*)$"},
    ],
    "description": f"The worst price accepted, as a fraction: in (0, {MAX_SLIPPAGE}]",
}


class _CaseInsensitiveEnum(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value == value.lower():
                    return member
        return None


class IntentType(_CaseInsensitiveEnum):
    ACQUIRE = "acquire"  # increase a position
    DISPOSE = "dispose"  # decrease a position


class ExecutionStyle(_CaseInsensitiveEnum):
    AGGRESSIVE = "aggressive"  # execute now
    PASSIVE = "passive"  # spread child orders over the time window


class IntentStatus(_CaseInsensitiveEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIALLY_FILLED = "partially_filled"
    DENIED = "denied"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self not in (IntentStatus.PENDING, IntentStatus.PROCESSING)


def _amount(value: Any) -> Decimal:
    return parse_decimal(value, field="amount")


def _percentage(value: Any) -> Decimal:
    return parse_decimal(value, field="percentage")


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 300000.0 is the integer 300000 (and schema-valid as one).
    # Anything else is left to the strict integer check (no strings, no bools, no 1.5).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _slippage(value: Any) -> Decimal:
    # A slippage tolerance is not an amount: a JSON number is fine here.
    if isinstance(value, float):
        value = repr(value)
    return parse_decimal(value, field="max_slippage")


class AssetSpec(BaseModel):
    """One side of the trade: an asset with an amount, a percentage, or neither.

    The asset with neither is the counter side: what is paid with (ACQUIRE) or received
    (DISPOSE), like USDC in "acquire 1.5 WETH with USDC".
    """

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_asset_spec_schema)

    asset: Asset
    amount: Annotated[
        Annotated[Decimal, BeforeValidator(_amount)] | None, WithJsonSchema(_AMOUNT_SCHEMA)
    ] = None
    percentage: Annotated[
        Annotated[Decimal, BeforeValidator(_percentage)] | None, WithJsonSchema(_PERCENTAGE_SCHEMA)
    ] = None

    @field_validator("asset", mode="before")
    @classmethod
    def _whole_numbers(cls, value: Any) -> Any:
        # `Asset`'s integers are strict (platform_core/types/common.py); JSON's 18.0 is 18.
        if isinstance(value, dict):
            return {k: _whole_number(v) if k in ("decimals", "chain_id") else v
                    for k, v in value.items()}  # fmt: skip
        return value

    @model_validator(mode="after")
    def _sized_consistently(self) -> AssetSpec:
        if self.amount is not None and self.percentage is not None:
            raise rule_error(
                "amount_and_percentage",
                "give an amount or a percentage, not both",
                field="percentage",
            )
        if self.amount is not None:
            self._check_amount(self.amount)
        if self.percentage is not None and not Decimal(0) < self.percentage <= Decimal(100):
            raise rule_error(
                "percentage_range", "percentage must be in (0, 100]", field="percentage"
            )
        return self

    def _check_amount(self, amount: Decimal) -> None:
        if amount <= 0:
            raise rule_error("amount_not_positive", "amount must be positive", field="amount")
        digits = fractional_digits(amount)
        if digits > self.asset.decimals:
            raise rule_error(
                "amount_precision",
                f"amount has {digits} fractional digits; {self.asset.symbol} has "
                f"{self.asset.decimals} decimals",
                field="amount",
            )
        if self.base_units(amount) > UINT256_MAX:
            raise rule_error("amount_too_large", "amount exceeds uint256", field="amount")

    @property
    def is_counter_side(self) -> bool:
        return self.amount is None and self.percentage is None

    def base_units(self, amount: Decimal | None = None) -> int:
        """The amount in the token's smallest unit (exact: precision was checked)."""
        value = self.amount if amount is None else amount
        if value is None:
            raise ValueError("this asset carries no amount")
        return int(value.scaleb(self.asset.decimals))


def _venue_list(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "array":
            branch.update(minItems=1, uniqueItems=True)


_VENUE_LIST: Any = _venue_list


class IntentConstraints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_slippage: Annotated[Decimal, BeforeValidator(_slippage), WithJsonSchema(_SLIPPAGE_SCHEMA)]
    time_window_ms: Annotated[int, BeforeValidator(_whole_number)] = Field(
        strict=True,
        json_schema_extra={"minimum": MIN_TIME_WINDOW_MS, "maximum": MAX_TIME_WINDOW_MS},
    )
    execution_style: ExecutionStyle = ExecutionStyle.AGGRESSIVE
    allowed_venues: list[VenueName] | None = Field(
        default=None, max_length=MAX_VENUES, json_schema_extra=_VENUE_LIST
    )
    excluded_venues: list[VenueName] | None = Field(
        default=None, max_length=MAX_VENUES, json_schema_extra=_VENUE_LIST
    )

    @field_validator("max_slippage")
    @classmethod
    def _slippage_range(cls, value: Decimal) -> Decimal:
        if not Decimal(0) < value <= MAX_SLIPPAGE:
            raise rule_error("slippage_range", f"max_slippage must be in (0, {MAX_SLIPPAGE}]")
        return value

    @field_validator("time_window_ms")
    @classmethod
    def _window_range(cls, value: int) -> int:
        if not MIN_TIME_WINDOW_MS <= value <= MAX_TIME_WINDOW_MS:
            raise rule_error(
                "time_window_range",
                f"time_window_ms must be between {MIN_TIME_WINDOW_MS} (1 s) and "
                f"{MAX_TIME_WINDOW_MS} (24 h)",
            )
        return value

    @field_validator("allowed_venues", "excluded_venues")
    @classmethod
    def _venue_list(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise rule_error("venues_empty", "give at least one venue, or leave the list out")
        if len(set(value)) != len(value):
            raise rule_error("venues_duplicate", "a venue is listed twice")
        return value

    @model_validator(mode="after")
    def _venues_disjoint(self) -> IntentConstraints:
        both = set(self.allowed_venues or ()) & set(self.excluded_venues or ())
        if both:
            raise rule_error(
                "venues_conflict",
                f"venues both allowed and excluded: {sorted(both)}",
                field="excluded_venues",
            )
        return self

    def venue_allowed(self, venue: str) -> bool:
        if self.allowed_venues is not None and venue not in self.allowed_venues:
            return False
        return venue not in (self.excluded_venues or ())


class MLFeatures(BaseModel):
    """The prioritiser's inputs, built from the intent and market state (never by clients).

    The field order is the model's input order: `models/train_priority_model.py` trains on
    `feature_names()` and the exported model records it, so a reordering is caught at load.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    time_window_s: float = Field(gt=0)  # the intent's deadline; shorter is more urgent
    log10_notional_usd: float  # order size in USD, log10 (4.0 = $10k)
    size_to_liquidity: float = Field(ge=0)  # notional / the pair's available liquidity
    volatility: float = Field(ge=0)  # recent realised volatility of the pair, a fraction
    drawdown: float = Field(ge=0, le=1)  # current drawdown from the peak, a fraction
    is_dispose: float = Field(ge=0, le=1)  # 1.0 for DISPOSE, 0.0 for ACQUIRE
    is_aggressive: float = Field(ge=0, le=1)  # 1.0 for AGGRESSIVE, 0.0 for PASSIVE

    @classmethod
    def feature_names(cls) -> list[str]:
        return list(cls.model_fields)

    def as_vector(self) -> list[float]:
        return [float(getattr(self, name)) for name in self.feature_names()]


# At least one asset sized, at most one not (the counter side).
_ASSET_LIST: dict[str, Any] = {
    "allOf": [
        {"contains": _SIZED},
        {"contains": {"not": _SIZED}, "minContains": 0, "maxContains": 1},
    ]
}


class IntentSubmission(BaseModel):
    """What a client may send: only these fields. Server-owned fields (id, status,
    ml_features) are refused as unknown, so a client cannot assign them.

    Intake also checks what depends on today's configuration: the assets' chain must be
    one of `SEP_CHAINS` (`UNKNOWN_CHAIN`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    strategy_id: UUID
    type: IntentType = Field(alias="intent_type")
    assets: list[AssetSpec] = Field(
        min_length=1, max_length=MAX_ASSETS, json_schema_extra=_ASSET_LIST
    )
    constraints: IntentConstraints

    @field_validator("assets")
    @classmethod
    def _configured_chain(cls, assets: list[AssetSpec]) -> list[AssetSpec]:
        known = get_settings().known_chain_ids
        for index, spec in enumerate(assets):
            if spec.asset.chain_id not in known:
                raise rule_error(
                    "unknown_chain",
                    f"chain id {spec.asset.chain_id} is not configured (known: {sorted(known)})",
                    field=f"{index}.asset.chain_id",
                )
        return assets

    @field_validator("assets")
    @classmethod
    def _assets_consistent(cls, assets: list[AssetSpec]) -> list[AssetSpec]:
        seen: set[tuple[int, str]] = set()
        for spec in assets:
            if spec.asset.key in seen:
                raise rule_error("asset_duplicate", f"asset {spec.asset.address} is listed twice")
            seen.add(spec.asset.key)
        if len({spec.asset.chain_id for spec in assets}) > 1:
            raise rule_error("assets_cross_chain", "all assets must be on one chain")
        if all(spec.is_counter_side for spec in assets):
            raise rule_error("no_sized_asset", "at least one asset needs an amount or a percentage")
        if sum(spec.is_counter_side for spec in assets) > 1:
            raise rule_error(
                "counter_asset_ambiguous",
                "at most one asset may omit amount and percentage (the side paid with or received)",
            )
        return assets

    @property
    def chain_id(self) -> int:
        return self.assets[0].asset.chain_id

    @property
    def sized_assets(self) -> list[AssetSpec]:
        return [spec for spec in self.assets if not spec.is_counter_side]

    @property
    def counter_asset(self) -> AssetSpec | None:
        return next((spec for spec in self.assets if spec.is_counter_side), None)


class Intent(IntentSubmission):
    """A strategy's trading goal, with the fields the platform owns."""

    id: UUID = Field(default_factory=uuid7)
    status: IntentStatus = IntentStatus.PENDING
    ml_features: MLFeatures | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("assets")
    @classmethod
    def _configured_chain(cls, assets: list[AssetSpec]) -> list[AssetSpec]:
        """Not re-checked: an intent is the platform's record (its events carry it), made
        from a submission that passed intake, and it decodes whatever the configuration is
        now, so an old log replays after `SEP_CHAINS` changes."""
        return assets

    @property
    def deadline(self) -> datetime:
        """When the intent's time window ends: `time_window_ms` after `created_at`. Nothing
        is sent past it; every stage reads it here."""
        return self.created_at + timedelta(milliseconds=self.constraints.time_window_ms)

    @classmethod
    def from_submission(cls, submission: IntentSubmission, **server_fields: Any) -> Intent:
        data = submission.model_dump(by_alias=True, exclude_unset=True)
        return cls.model_validate({**data, **server_fields})


class IntentReceipt(BaseModel):
    """The answer to an accepted submission (HTTP 202)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent_id: UUID
    strategy_id: UUID
    status: IntentStatus
    priority: int | None = Field(default=None, ge=1, le=10)
    received_at: datetime
    links: dict[str, str]
