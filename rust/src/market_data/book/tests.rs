use super::*;

fn levels(pairs: &[(f64, f64)]) -> Vec<Level> {
    pairs
        .iter()
        .map(|&(price, size)| Level { price, size })
        .collect()
}

fn book(venue: &str, bids: &[(f64, f64)], asks: &[(f64, f64)]) -> VenueBook {
    VenueBook {
        venue: venue.into(),
        bids: levels(bids),
        asks: levels(asks),
    }
}

#[test]
fn merges_sorts_and_keeps_breakdown() {
    let books = [
        book("a", &[(99.0, 1.0), (100.0, 2.0)], &[(101.0, 1.0)]),
        book("b", &[(100.0, 0.5)], &[(100.5, 3.0), (101.0, 2.0)]),
    ];
    let merged = aggregate_order_books(&books, AggregateOptions::default()).unwrap();
    assert_eq!(merged.venues, ["a", "b"]);
    assert_eq!(
        merged.bids,
        vec![
            AggregatedLevel {
                price: 100.0,
                size: 2.5,
                venues: vec![(0, 2.0), (1, 0.5)]
            },
            AggregatedLevel {
                price: 99.0,
                size: 1.0,
                venues: vec![(0, 1.0)]
            },
        ]
    );
    assert_eq!(
        merged.asks.iter().map(|l| l.price).collect::<Vec<_>>(),
        [100.5, 101.0]
    );
    assert_eq!(merged.asks[1].venues, vec![(0, 1.0), (1, 2.0)]);
    assert!(!merged.crossed());
}

#[test]
fn depth_and_buckets() {
    let books = [book(
        "a",
        &[(10.2, 1.0), (10.7, 1.0), (9.1, 1.0)],
        &[(10.9, 1.0), (11.0, 2.0)],
    )];
    let options = AggregateOptions {
        depth: Some(1),
        price_bucket: Some(1.0),
    };
    let merged = aggregate_order_books(&books, options).unwrap();
    assert_eq!(
        merged.bids,
        vec![AggregatedLevel {
            price: 10.0,
            size: 2.0,
            venues: vec![(0, 2.0)]
        }]
    );
    assert_eq!(
        merged.asks,
        vec![AggregatedLevel {
            price: 11.0,
            size: 3.0,
            venues: vec![(0, 3.0)]
        }]
    );
    assert_eq!(bucket_price(0.3, 0.1, Side::Bid), 0.30000000000000004);
    assert_eq!(bucket_price(0.05, 0.1, Side::Ask), 0.1);
    assert_eq!(bucket_price(0.05, 0.1, Side::Bid), 0.0);
}

#[test]
fn crossings_are_listed_per_venue_pair() {
    let books = [
        book("a", &[(100.0, 1.0)], &[(102.0, 1.0)]),
        book("b", &[(101.0, 1.0)], &[(99.0, 1.0)]),
    ];
    let merged = aggregate_order_books(&books, AggregateOptions::default()).unwrap();
    let pairs: Vec<_> = merged
        .crossings
        .iter()
        .map(|c| (c.bid_venue, c.ask_venue))
        .collect();
    assert_eq!(pairs, [(0, 1), (1, 1)]);
    assert_eq!(
        (merged.best_bid, merged.best_ask),
        (Some(101.0), Some(99.0))
    );
}

#[test]
fn rejects_bad_numbers() {
    for (bids, asks) in [
        (vec![(f64::NAN, 1.0)], vec![]),
        (vec![(-1.0, 1.0)], vec![]),
        (vec![], vec![(1.0, -1.0)]),
        (vec![], vec![(1.0, f64::INFINITY)]),
    ] {
        let books = [book("x", &bids, &asks)];
        assert!(aggregate_order_books(&books, AggregateOptions::default()).is_err());
    }
    let options = AggregateOptions {
        depth: None,
        price_bucket: Some(-1.0),
    };
    assert!(aggregate_order_books(&[], options).is_err());
}
