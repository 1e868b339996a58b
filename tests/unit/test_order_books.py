"""`aggregate_order_books` against a plain-Python reference of the same rules."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import platform_rust
from platform_rust import BookLevel, ConsolidatedBook, aggregate_order_books

Book = dict[str, Any]

# ---------------------------------------------------------------- the reference

TOLERANCE = 1e-9


def reference_bucket(price: float, bucket: float, side: str) -> float:
    quotient = price / bucket
    nearest = round(quotient)
    if nearest >= 1 and abs(quotient - nearest) <= TOLERANCE * nearest:
        return nearest * bucket
    return (math.floor(quotient) if side == "bids" else math.ceil(quotient)) * bucket


def reference_side(
    books: list[Book], side: str, depth: int | None, bucket: float | None
) -> list[tuple[float, float, dict[str, float]]]:
    per_price: dict[float, dict[str, float]] = {}
    for book in books:
        for price, size in book.get(side) or []:
            if size == 0:
                continue
            key = reference_bucket(price, bucket, side) if bucket else float(price)
            venues = per_price.setdefault(key, {})
            venues[book["venue"]] = venues.get(book["venue"], 0.0) + size
    venue_order = list(dict.fromkeys(book["venue"] for book in books))
    prices = sorted(per_price, reverse=(side == "bids"))[:depth]
    out = []
    for price in prices:
        venues = {v: per_price[price][v] for v in venue_order if v in per_price[price]}
        out.append((price, sum(venues.values()), venues))
    return out


def reference_crossings(books: list[Book]) -> list[tuple[str, str]]:
    def best(side: str, pick: Any) -> dict[str, float]:
        result: dict[str, float] = {}
        for book in books:
            for price, size in book.get(side) or []:
                if size > 0:
                    v = book["venue"]
                    result[v] = pick(result[v], price) if v in result else price
        return result

    bids, asks = best("bids", max), best("asks", min)
    venue_order = list(dict.fromkeys(book["venue"] for book in books))
    return [
        (b, a)
        for b in venue_order
        if b in bids
        for a in venue_order
        if a in asks and bids[b] >= asks[a]
    ]


def as_plain(levels: list[BookLevel]) -> list[tuple[float, float, dict[str, float]]]:
    return [(level.price, level.size, level.venues) for level in levels]


def assert_levels_match(ours: list[BookLevel], expected: list[Any]) -> None:
    assert len(ours) == len(expected)
    for level, (price, size, venues) in zip(ours, expected, strict=True):
        assert level.price == price
        assert level.size == pytest.approx(size, rel=1e-12)
        assert list(level.venues) == list(venues)
        assert level.venues == pytest.approx(venues, rel=1e-12)


# ---------------------------------------------------------------- examples

BINANCE = {"venue": "binance", "bids": [(100.0, 1.0), (99.5, 2.0)], "asks": [(100.5, 1.5)]}
COINBASE = {
    "venue": "coinbase",
    "bids": [(100.0, 0.5), (99.0, 4.0)],
    "asks": [(100.5, 1.0), (101.0, 3.0)],
}


def test_merges_levels_and_keeps_the_venue_breakdown() -> None:
    book = aggregate_order_books([BINANCE, COINBASE])
    assert isinstance(book, ConsolidatedBook)
    assert as_plain(book.bids) == [
        (100.0, 1.5, {"binance": 1.0, "coinbase": 0.5}),
        (99.5, 2.0, {"binance": 2.0}),
        (99.0, 4.0, {"coinbase": 4.0}),
    ]
    assert as_plain(book.asks) == [
        (100.5, 2.5, {"binance": 1.5, "coinbase": 1.0}),
        (101.0, 3.0, {"coinbase": 3.0}),
    ]
    assert (book.best_bid, book.best_ask) == (100.0, 100.5)
    assert book.venues == ["binance", "coinbase"]
    assert not book.crossed and book.crossings == [] and book.crossing_venues == []


def test_depth_limits_each_side() -> None:
    book = aggregate_order_books([BINANCE, COINBASE], depth=1)
    assert [level.price for level in book.bids] == [100.0]
    assert [level.price for level in book.asks] == [100.5]
    empty = aggregate_order_books([BINANCE], depth=0)
    assert empty.bids == [] and empty.asks == []
    # Best prices and crossing detection look at the whole book, not the truncated one.
    assert empty.best_bid == 100.0


def test_bucketing_rounds_bids_down_and_asks_up() -> None:
    book = aggregate_order_books(
        [
            {
                "venue": "x",
                "bids": [(100.3, 1.0), (100.9, 2.0), (0.3, 1.0)],
                "asks": [(100.1, 1.0), (101.0, 1.0)],
            }
        ],
        price_bucket=1.0,
    )
    assert as_plain(book.bids) == [(100.0, 3.0, {"x": 3.0}), (0.0, 1.0, {"x": 1.0})]
    assert as_plain(book.asks) == [(101.0, 2.0, {"x": 2.0})]


def test_bucketing_treats_binary_rounding_of_boundaries_as_on_them() -> None:
    # 0.3 / 0.1 == 2.9999999999999996 in binary floating point: still the 0.3 bucket.
    book = aggregate_order_books(
        [{"venue": "x", "bids": [(0.3, 1.0)], "asks": [(0.7, 1.0)]}], price_bucket=0.1
    )
    assert book.bids[0].price == pytest.approx(0.3)
    assert book.asks[0].price == pytest.approx(0.7)


def test_crossed_books_are_reported_not_hidden() -> None:
    cheap = {"venue": "cheap", "bids": [(99.0, 1.0)], "asks": [(99.5, 1.0)]}
    rich = {"venue": "rich", "bids": [(100.0, 2.0)], "asks": [(100.5, 1.0)]}
    book = aggregate_order_books([cheap, rich])
    assert book.crossed
    ((crossing),) = book.crossings
    assert (crossing.bid_venue, crossing.bid_price) == ("rich", 100.0)
    assert (crossing.ask_venue, crossing.ask_price) == ("cheap", 99.5)
    assert book.crossing_venues == ["cheap", "rich"]
    # Both sides still show every level.
    assert [level.price for level in book.bids] == [100.0, 99.0]
    assert [level.price for level in book.asks] == [99.5, 100.5]


def test_locked_book_counts_as_crossed() -> None:
    book = aggregate_order_books(
        [{"venue": "a", "bids": [(100.0, 1.0)]}, {"venue": "b", "asks": [(100.0, 1.0)]}]
    )
    assert book.crossed and book.crossing_venues == ["a", "b"]


def test_amm_depth_ladder_as_plain_level_lists() -> None:
    ladder = [(1999.5, 0.25), (1999.0, 0.5), (1998.0, 1.0)]  # e.g. ExecutionEngine.depth_ladder
    book = aggregate_order_books(
        [
            {"venue": "uniswap_v3:0xpool", "bids": ladder, "asks": [[2000.5, 0.3], (2001, 1)]},
            {"venue": "cex", "bids": iter([(1999.5, 1.0)]), "asks": None},
        ]
    )
    assert as_plain(book.bids)[0] == (1999.5, 1.25, {"uniswap_v3:0xpool": 0.25, "cex": 1.0})
    assert [level.price for level in book.asks] == [2000.5, 2001.0]


def test_same_venue_name_twice_is_merged_and_zero_sizes_dropped() -> None:
    book = aggregate_order_books(
        [
            {"venue": "a", "bids": [(10.0, 1.0), (9.0, 0.0)]},
            {"venue": "a", "bids": [(10.0, 2.0)]},
        ]
    )
    assert as_plain(book.bids) == [(10.0, 3.0, {"a": 3.0})]
    assert book.venues == ["a"]


def test_empty_inputs() -> None:
    book = aggregate_order_books([])
    assert (book.bids, book.asks, book.best_bid, book.best_ask) == ([], [], None, None)
    assert not book.crossed
    assert aggregate_order_books([{"venue": "a"}]).venues == ["a"]


def test_repr_is_informative() -> None:
    book = aggregate_order_books([BINANCE, COINBASE])
    assert "crossed=false" in repr(book).lower()
    assert (
        repr(book.bids[0])
        == 'BookLevel(price=100.0, size=1.5, venues={"binance": 1.0, "coinbase": 0.5})'
    )


@pytest.mark.parametrize(
    ("books", "kwargs", "message"),
    [
        ([{"venue": "a", "bids": [(-1.0, 1.0)]}], {}, "price"),
        ([{"venue": "a", "bids": [(0.0, 1.0)]}], {}, "price"),
        ([{"venue": "a", "asks": [(float("nan"), 1.0)]}], {}, "price"),
        ([{"venue": "a", "asks": [(float("inf"), 1.0)]}], {}, "price"),
        ([{"venue": "a", "bids": [(1.0, -0.5)]}], {}, "size"),
        ([{"venue": "a", "asks": [(1.0, float("nan"))]}], {}, "size"),
        ([{"venue": "a", "bids": [(1.0, 1.0)]}], {"price_bucket": 0.0}, "price_bucket"),
        ([{"venue": "a", "bids": [(1.0, 1.0)]}], {"price_bucket": float("nan")}, "price_bucket"),
        ([{"venue": "a", "bids": [(1.0, 1.0)]}], {"depth": -1}, "depth"),
        ([{"venue": "a", "bids": [(1.0, 1.0)]}], {"depth": -(2**80)}, "depth"),
        ([{"venue": "a", "asks": [(1e308, 1.0)]}], {"price_bucket": 1e-300}, "too small"),
        (
            [{"venue": "a", "bids": [(1.0, 1e308)]}, {"venue": "b", "bids": [(1.0, 1e308)]}],
            {},
            "float range",
        ),
    ],
)
def test_invalid_values_raise_value_error(books: list[Book], kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aggregate_order_books(books, **kwargs)


def test_depth_beyond_any_book_is_no_limit_and_must_be_an_int() -> None:
    assert len(aggregate_order_books([BINANCE, COINBASE], depth=2**80).bids) == 3
    with pytest.raises(TypeError, match="depth"):
        aggregate_order_books([BINANCE], depth=1.5)  # type: ignore[arg-type]


def test_value_errors_name_the_venue_and_level() -> None:
    with pytest.raises(ValueError, match=r"venue \"b\", ask level 1"):
        aggregate_order_books([BINANCE, {"venue": "b", "asks": [(1.0, 1.0), (2.0, -1.0)]}])


@pytest.mark.parametrize(
    "books",
    [
        [{"venue": "a", "bids": [(1.0, 2.0, 3.0)]}],
        [{"venue": "a", "bids": [1.0]}],
        [{"venue": "a", "bids": [("x", 1.0)]}],
        [("a", [], [])],
        [{"bids": []}],
    ],
)
def test_malformed_shapes_raise(books: list[Any]) -> None:
    with pytest.raises((TypeError, KeyError)):
        aggregate_order_books(books)


# ---------------------------------------------------------------- property: matches the reference

prices = st.floats(min_value=0.01, max_value=1000.0, allow_nan=False, allow_infinity=False)
# A few fixed prices make sure different venues collide on the same level.
shared_prices = st.sampled_from([99.0, 99.5, 100.0, 100.5, 101.0])
sizes = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))
levels = st.lists(st.tuples(st.one_of(prices, shared_prices), sizes), max_size=12)
venue_books = st.lists(
    st.fixed_dictionaries(
        {
            "venue": st.sampled_from(["binance", "coinbase", "uni_v3", "curve"]),
            "bids": levels,
            "asks": levels,
        }
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(
    books=venue_books,
    depth=st.one_of(st.none(), st.integers(min_value=0, max_value=8)),
    bucket=st.one_of(st.none(), st.sampled_from([0.01, 0.1, 0.25, 1.0, 5.0])),
)
def test_matches_the_python_reference(
    books: list[Book], depth: int | None, bucket: float | None
) -> None:
    book = aggregate_order_books(books, depth=depth, price_bucket=bucket)
    assert_levels_match(book.bids, reference_side(books, "bids", depth, bucket))
    assert_levels_match(book.asks, reference_side(books, "asks", depth, bucket))
    assert book.to_tuples() == (as_plain(book.bids), as_plain(book.asks))
    assert [(c.bid_venue, c.ask_venue) for c in book.crossings] == reference_crossings(books)
    assert book.crossed == bool(reference_crossings(books))
    bids = [p for b in books for p, s in b["bids"] if s > 0]
    asks = [p for b in books for p, s in b["asks"] if s > 0]
    assert book.best_bid == (max(bids) if bids else None)
    assert book.best_ask == (min(asks) if asks else None)
    if bucket is None and book.bids and book.asks and not book.crossed:
        assert book.bids[0].price < book.asks[0].price


def test_type_stub_covers_the_order_book_classes() -> None:
    stub = ast.parse(Path(platform_rust.__file__).with_name("_platform_rust.pyi").read_text())
    stubbed = {
        node.name: {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        for node in stub.body
        if isinstance(node, ast.ClassDef)
    }
    for cls in (platform_rust.ConsolidatedBook, platform_rust.BookLevel, platform_rust.Crossing):
        public = {name for name in dir(cls) if not name.startswith("_")}
        assert public == stubbed[cls.__name__], cls.__name__
    assert "aggregate_order_books" in {n.name for n in stub.body if isinstance(n, ast.FunctionDef)}
