//! Pure-Rust consolidation of several venues' order books into one view.
//!
//! Levels are `(price, size)` pairs of `f64`, as venues publish them and as AMM depth ladders
//! are derived. Equal prices (after optional bucketing) merge into one level whose size is the
//! sum over venues, and the per-venue breakdown is kept so a router can see where it comes from.

use std::collections::HashMap;

/// One side of one venue's book, or of an AMM pool's depth ladder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub price: f64,
    pub size: f64,
}

#[derive(Debug, Clone, Default)]
pub struct VenueBook {
    pub venue: String,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Bid,
    Ask,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct AggregateOptions {
    /// Keep at most this many consolidated levels per side.
    pub depth: Option<usize>,
    /// Round prices to multiples of this: bids down, asks up (never improving a price).
    pub price_bucket: Option<f64>,
}

/// A consolidated price level; `venues` holds (index into `ConsolidatedBook::venues`, size)
/// in venue order, only for venues with size at this level.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatedLevel {
    pub price: f64,
    pub size: f64,
    pub venues: Vec<(usize, f64)>,
}

/// One venue's best bid at or above another's (or its own) best ask.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub bid_venue: usize,
    pub bid_price: f64,
    pub ask_venue: usize,
    pub ask_price: f64,
}

#[derive(Debug, Clone, Default)]
pub struct ConsolidatedBook {
    /// Distinct venue names in order of first appearance; books sharing a name are merged.
    pub venues: Vec<String>,
    /// Descending prices.
    pub bids: Vec<AggregatedLevel>,
    /// Ascending prices.
    pub asks: Vec<AggregatedLevel>,
    /// Best prices over all venues, from the raw (unbucketed) levels.
    pub best_bid: Option<f64>,
    pub best_ask: Option<f64>,
    /// Every (bid venue, ask venue) pair whose best prices cross or lock, bid venue order then
    /// ask venue order; empty when the consolidated book is not crossed.
    pub crossings: Vec<Crossing>,
}

impl ConsolidatedBook {
    pub fn crossed(&self) -> bool {
        !self.crossings.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookError(pub String);

impl std::fmt::Display for BookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BookError {}

/// A price within this relative distance of a bucket boundary counts as on it, so that
/// 0.3 with a 0.1 bucket stays 0.3 instead of flooring to 0.2 through binary rounding.
const BUCKET_TOLERANCE: f64 = 1e-9;

/// Validates and merges `books`. Zero-size levels are dropped (venues use them to delete).
pub fn aggregate_order_books(
    books: &[VenueBook],
    options: AggregateOptions,
) -> Result<ConsolidatedBook, BookError> {
    if let Some(bucket) = options.price_bucket {
        if !(bucket.is_finite() && bucket > 0.0) {
            return Err(BookError(format!(
                "price_bucket must be a positive finite number, got {bucket}"
            )));
        }
    }
    let total_levels: usize = books
        .iter()
        .map(|book| book.bids.len().max(book.asks.len()))
        .sum();
    if total_levels > u32::MAX as usize {
        return Err(BookError(format!(
            "too many levels on one side: {total_levels}"
        )));
    }
    let mut venues: Vec<String> = Vec::new();
    let mut venue_index: HashMap<&str, usize> = HashMap::new();
    let mut venue_of_book = Vec::with_capacity(books.len());
    for book in books {
        let index = *venue_index.entry(book.venue.as_str()).or_insert_with(|| {
            venues.push(book.venue.clone());
            venues.len() - 1
        });
        venue_of_book.push(index);
        validate_side(book, Side::Bid)?;
        validate_side(book, Side::Ask)?;
    }

    let best_bids = best_per_venue(books, &venue_of_book, venues.len(), Side::Bid);
    let best_asks = best_per_venue(books, &venue_of_book, venues.len(), Side::Ask);
    let crossings = find_crossings(&best_bids, &best_asks);
    let best_bid = best_bids.iter().flatten().copied().reduce(f64::max);
    let best_ask = best_asks.iter().flatten().copied().reduce(f64::min);

    Ok(ConsolidatedBook {
        bids: merge_side(books, &venue_of_book, Side::Bid, options)?,
        asks: merge_side(books, &venue_of_book, Side::Ask, options)?,
        venues,
        best_bid,
        best_ask,
        crossings,
    })
}

fn side_levels(book: &VenueBook, side: Side) -> &[Level] {
    match side {
        Side::Bid => &book.bids,
        Side::Ask => &book.asks,
    }
}

fn validate_side(book: &VenueBook, side: Side) -> Result<(), BookError> {
    for (index, level) in side_levels(book, side).iter().enumerate() {
        let problem = if !(level.price.is_finite() && level.price > 0.0) {
            Some(format!(
                "price must be a positive finite number, got {}",
                level.price
            ))
        } else if !(level.size.is_finite() && level.size >= 0.0) {
            Some(format!(
                "size must be a non-negative finite number, got {}",
                level.size
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(BookError(format!(
                "venue {:?}, {} level {index}: {problem}",
                book.venue,
                side.name()
            )));
        }
    }
    Ok(())
}

fn best_per_venue(
    books: &[VenueBook],
    venue_of_book: &[usize],
    venue_count: usize,
    side: Side,
) -> Vec<Option<f64>> {
    let mut best: Vec<Option<f64>> = vec![None; venue_count];
    for (book, &venue) in books.iter().zip(venue_of_book) {
        for level in side_levels(book, side)
            .iter()
            .filter(|level| level.size > 0.0)
        {
            let better = match (side, best[venue]) {
                (_, None) => true,
                (Side::Bid, Some(current)) => level.price > current,
                (Side::Ask, Some(current)) => level.price < current,
            };
            if better {
                best[venue] = Some(level.price);
            }
        }
    }
    best
}

fn find_crossings(best_bids: &[Option<f64>], best_asks: &[Option<f64>]) -> Vec<Crossing> {
    let mut crossings = Vec::new();
    for (bid_venue, bid) in best_bids.iter().enumerate() {
        let Some(bid_price) = *bid else { continue };
        for (ask_venue, ask) in best_asks.iter().enumerate() {
            if let Some(ask_price) = *ask {
                if bid_price >= ask_price {
                    crossings.push(Crossing {
                        bid_venue,
                        bid_price,
                        ask_venue,
                        ask_price,
                    });
                }
            }
        }
    }
    crossings
}

/// Bucket boundary for `price`: the multiple of `bucket` at or below it (bids) or at or above
/// it (asks), so bucketing never shows a better price than a venue offers.
pub fn bucket_price(price: f64, bucket: f64, side: Side) -> f64 {
    let quotient = price / bucket;
    let nearest = quotient.round();
    let on_boundary = nearest >= 1.0 && (quotient - nearest).abs() <= BUCKET_TOLERANCE * nearest;
    let multiple = if on_boundary {
        nearest
    } else {
        match side {
            Side::Bid => quotient.floor(),
            Side::Ask => quotient.ceil(),
        }
    };
    multiple * bucket
}

/// Sort key of a positive finite price: for such floats the IEEE-754 bit pattern orders like
/// the value, so integer comparison replaces float comparison; bids invert it to sort best
/// (highest) first.
fn price_order_key(price: f64, side: Side) -> u64 {
    match side {
        Side::Bid => !price.to_bits(),
        Side::Ask => price.to_bits(),
    }
}

fn merge_side(
    books: &[VenueBook],
    venue_of_book: &[usize],
    side: Side,
    options: AggregateOptions,
) -> Result<Vec<AggregatedLevel>, BookError> {
    // Each entry packs (price key, venue, input position) into one u128, so a plain integer
    // sort orders by price, then venue, then input order: sums are taken in input order and
    // the result is deterministic. `prices` and `sizes` are indexed by input position.
    let capacity: usize = books.iter().map(|book| side_levels(book, side).len()).sum();
    let mut keys: Vec<u128> = Vec::with_capacity(capacity);
    let mut prices: Vec<f64> = Vec::with_capacity(capacity);
    let mut sizes: Vec<f64> = Vec::with_capacity(capacity);
    for (book, &venue) in books.iter().zip(venue_of_book) {
        for level in side_levels(book, side)
            .iter()
            .filter(|level| level.size > 0.0)
        {
            let price = match options.price_bucket {
                Some(bucket) => bucket_price(level.price, bucket, side),
                None => level.price,
            };
            if !price.is_finite() {
                return Err(BookError(format!(
                    "price_bucket {} is too small for price {}",
                    options.price_bucket.unwrap_or_default(),
                    level.price
                )));
            }
            // Bucket 0 (a bid below one bucket) is the only non-positive price; 0.0's bits
            // still order correctly below every positive price.
            let position = prices.len() as u128;
            keys.push(
                (u128::from(price_order_key(price, side)) << 64)
                    | ((venue as u128 & 0xffff_ffff) << 32)
                    | (position & 0xffff_ffff),
            );
            prices.push(price);
            sizes.push(level.size);
        }
    }
    keys.sort_unstable();

    let depth = options.depth.unwrap_or(usize::MAX);
    let mut levels: Vec<AggregatedLevel> = Vec::new();
    for key in keys {
        let venue = ((key >> 32) & 0xffff_ffff) as usize;
        let position = (key & 0xffff_ffff) as usize;
        let (price, size) = (prices[position], sizes[position]);
        let same_price = levels.last().is_some_and(|last| last.price == price);
        if !same_price {
            if levels.len() == depth {
                break;
            }
            levels.push(AggregatedLevel {
                price,
                size: 0.0,
                venues: Vec::new(),
            });
        }
        let Some(level) = levels.last_mut() else {
            break;
        };
        match level.venues.last_mut() {
            Some((last_venue, total)) if *last_venue == venue => *total += size,
            _ => level.venues.push((venue, size)),
        }
    }
    for level in &mut levels {
        level.size = level.venues.iter().map(|(_, size)| size).sum();
        if !level.size.is_finite() {
            return Err(BookError(format!(
                "sizes at price {} add up beyond the float range",
                level.price
            )));
        }
    }
    Ok(levels)
}

#[cfg(test)]
mod tests;
