"""Chain faults on a busy machine, over a scripted node: a block anvil began before mining
stopped can land during the fault. The base fee spike mines its block again; the reorg is
tried again at the new head; a mining pause is over once what it held was mined, even while
new transactions keep the pool from ever being empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platform_core.chaos.faults import (
    REORG_TIMEOUT_S,
    FaultInjector,
    FaultKind,
    PlannedFault,
    PlatformHandle,
)

HIGH = 200


class BusyNode(FaultInjector):
    """Answers the injector's RPC calls like anvil, with `late` blocks landing unasked."""

    def __init__(self, late: int = 0) -> None:
        super().__init__(PlatformHandle({"SEP_FEE_CEILING_WEI": "100"}, Path("."), "", ""))
        self.head, self.late, self.next_fee = 10, late, None
        self.fees = dict.fromkeys(range(11), 7)
        self.pending: set[str] = set()
        self.calls: list[str] = []
        self.timeouts: dict[str, float] = {}
        self.reverted: set[str] = set()  # transaction hashes whose receipts say reverted

    def _mine(self, fee: int | None = None) -> None:
        parent = self.fees[self.head]
        self.head += 1
        self.fees[self.head] = fee if fee is not None else max(parent * 7 // 8, 7)

    def _settled_head(self, quiet_s: float = 2.0, timeout_s: float = 30.0) -> int:
        return self.head

    def rpc(self, method: str, params: list[Any] | None = None, timeout_s: float = 10.0) -> Any:
        self.calls.append(method)
        self.timeouts[method] = timeout_s
        if self.late and method in ("evm_mine", "eth_getRawTransactionByHash"):
            self.late -= 1  # a late block takes the fee set for the next one
            self._mine(self.next_fee)
            self.next_fee = None
        match method:
            case "anvil_getAutomine":
                return True
            case "anvil_getIntervalMining":
                return None
            case "anvil_setNextBlockBaseFeePerGas":
                self.next_fee = int(params[0], 16)  # type: ignore[index]
            case "evm_mine":
                self._mine(self.next_fee)
                self.next_fee = None
            case "eth_blockNumber":
                return hex(self.head)
            case "eth_getBlockByNumber":
                n = self.head if params[0] == "latest" else int(params[0], 16)  # type: ignore[index]
                return {"hash": f"0x{n:x}-{self.calls.count('anvil_reorg')}",
                        "baseFeePerGas": hex(self.fees[n]),
                        "transactions": [{"from": "0xa", "hash": f"0xt{n}"}]
                        if params[1] else [f"0xt{n}"]}  # type: ignore[index]  # fmt: skip
            case "eth_getRawTransactionByHash":
                return "0x02"
            case "eth_getTransactionReceipt":
                return {"status": "0x0" if params[0] in self.reverted else "0x1"}  # type: ignore[index]
            case "txpool_status":
                return {"pending": hex(len(self.pending))}
            case "txpool_content":
                return {
                    "pending": {
                        "0xb": {str(i): {"hash": h} for i, h in enumerate(sorted(self.pending))}
                    }
                }
        return None


def test_a_late_block_that_took_the_spiked_fee_is_mined_again() -> None:
    node = BusyNode(late=1)
    assert node._next_base_fee(HIGH) == HIGH
    assert node.calls.count("anvil_setNextBlockBaseFeePerGas") == 2


def test_a_reorg_raced_by_a_late_block_is_tried_again_at_the_new_head() -> None:
    node = BusyNode(late=1)
    record = node.inject(PlannedFault(1.0, FaultKind.REORG, depth=1))
    assert record.ok, record.detail
    assert node.calls.count("anvil_reorg") == 1 and "to 11 replaced" in record.detail
    assert node.timeouts["anvil_reorg"] == REORG_TIMEOUT_S  # a late answer is waited for


def test_a_reorg_keeps_away_from_a_block_holding_a_reverted_transaction() -> None:
    """A 10,000-intent run: a swap its deadline reverted succeeded in the replacement block
    (an earlier timestamp), and the events no longer matched the chain."""
    node = BusyNode()
    node.reverted = {f"0xt{node.head - 1}"}
    assert node._reorderless_depth(node.head, 3) == 1  # the head only: the one below reverted
    node.reverted = {f"0xt{node.head}"}
    assert node._reorderless_depth(node.head, 3) == 0


def test_a_pause_is_over_once_what_it_held_was_mined_though_more_keeps_coming() -> None:
    node = BusyNode()
    node.pending = {"0xheld"}
    mode = (True, None)
    held = node._pending_hashes()
    assert not node._mined_again(mode, 10, held)
    node.pending = {"0xnew-1", "0xnew-2"}  # the held one was mined; others arrived since
    assert node._mined_again(mode, 10, held)
