//! Python bindings: `aggregate_order_books` and its result classes.
//!
//! Input: a sequence of mappings `{"venue": str, "bids": levels, "asks": levels}` where
//! `levels` is any iterable of `(price, size)` pairs (tuples, lists, numpy rows), exactly what
//! an AMM depth ladder returns. A missing side is empty.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyMapping, PyString, PyTuple};

use super::book::{
    aggregate_order_books as aggregate, AggregateOptions, AggregatedLevel, BookError,
    ConsolidatedBook, Crossing, Level, VenueBook,
};

fn value_error(err: BookError) -> PyErr {
    PyValueError::new_err(err.0)
}

/// One consolidated price level: total size and the size each venue contributes.
#[pyclass(frozen, module = "platform_rust", name = "BookLevel")]
pub struct PyBookLevel {
    // Shared with the book and the side's other levels: materialising a level copies nothing.
    side: Arc<[AggregatedLevel]>,
    index: usize,
    venue_names: Arc<[String]>,
}

impl PyBookLevel {
    fn level(&self) -> &AggregatedLevel {
        &self.side[self.index]
    }
}

#[pymethods]
impl PyBookLevel {
    #[getter]
    fn price(&self) -> f64 {
        self.level().price
    }
    #[getter]
    fn size(&self) -> f64 {
        self.level().size
    }
    /// `{venue: size}` for the venues quoting at this level, in venue order.
    #[getter]
    fn venues<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (venue, size) in &self.level().venues {
            dict.set_item(&self.venue_names[*venue], size)?;
        }
        Ok(dict)
    }
    fn __repr__(&self) -> String {
        let level = self.level();
        let venues: Vec<String> = level
            .venues
            .iter()
            .map(|(venue, size)| format!("{:?}: {size:?}", self.venue_names[*venue]))
            .collect();
        format!(
            "BookLevel(price={:?}, size={:?}, venues={{{}}})",
            level.price,
            level.size,
            venues.join(", ")
        )
    }
}

/// A bid venue whose best bid is at or above an ask venue's best ask.
#[pyclass(frozen, module = "platform_rust", name = "Crossing")]
pub struct PyCrossing {
    #[pyo3(get)]
    bid_venue: String,
    #[pyo3(get)]
    bid_price: f64,
    #[pyo3(get)]
    ask_venue: String,
    #[pyo3(get)]
    ask_price: f64,
}

#[pymethods]
impl PyCrossing {
    fn __repr__(&self) -> String {
        format!(
            "Crossing(bid_venue={:?}, bid_price={:?}, ask_venue={:?}, ask_price={:?})",
            self.bid_venue, self.bid_price, self.ask_venue, self.ask_price
        )
    }
}

/// The merged view of several venues' books.
#[pyclass(frozen, module = "platform_rust", name = "ConsolidatedBook")]
pub struct PyConsolidatedBook {
    /// `book` without its levels, which moved into the shared slices below.
    book: ConsolidatedBook,
    bids: Arc<[AggregatedLevel]>,
    asks: Arc<[AggregatedLevel]>,
    venue_names: Arc<[String]>,
}

impl PyConsolidatedBook {
    fn new(mut book: ConsolidatedBook) -> Self {
        let bids = std::mem::take(&mut book.bids).into();
        let asks = std::mem::take(&mut book.asks).into();
        let venue_names = book.venues.clone().into();
        Self {
            book,
            bids,
            asks,
            venue_names,
        }
    }

    fn levels(&self, side: &Arc<[AggregatedLevel]>) -> Vec<PyBookLevel> {
        (0..side.len())
            .map(|index| PyBookLevel {
                side: side.clone(),
                index,
                venue_names: self.venue_names.clone(),
            })
            .collect()
    }
    fn crossing(&self, crossing: &Crossing) -> PyCrossing {
        PyCrossing {
            bid_venue: self.venue_names[crossing.bid_venue].clone(),
            bid_price: crossing.bid_price,
            ask_venue: self.venue_names[crossing.ask_venue].clone(),
            ask_price: crossing.ask_price,
        }
    }
}

#[pymethods]
impl PyConsolidatedBook {
    /// Bids, best (highest) first.
    #[getter]
    fn bids(&self) -> Vec<PyBookLevel> {
        self.levels(&self.bids)
    }
    /// Asks, best (lowest) first.
    #[getter]
    fn asks(&self) -> Vec<PyBookLevel> {
        self.levels(&self.asks)
    }
    /// Distinct venue names, in order of first appearance.
    #[getter]
    fn venues(&self) -> Vec<String> {
        self.book.venues.clone()
    }
    /// Highest bid over all venues, before bucketing.
    #[getter]
    fn best_bid(&self) -> Option<f64> {
        self.book.best_bid
    }
    /// Lowest ask over all venues, before bucketing.
    #[getter]
    fn best_ask(&self) -> Option<f64> {
        self.book.best_ask
    }
    /// True when the best bid is at or above the best ask (crossed or locked).
    #[getter]
    fn crossed(&self) -> bool {
        self.book.crossed()
    }
    #[getter]
    fn crossings(&self) -> Vec<PyCrossing> {
        self.book
            .crossings
            .iter()
            .map(|crossing| self.crossing(crossing))
            .collect()
    }
    /// Venues involved in any crossing, in venue order.
    #[getter]
    fn crossing_venues(&self) -> Vec<String> {
        let mut involved = vec![false; self.venue_names.len()];
        for crossing in &self.book.crossings {
            involved[crossing.bid_venue] = true;
            involved[crossing.ask_venue] = true;
        }
        self.venue_names
            .iter()
            .zip(involved)
            .filter(|(_, involved)| *involved)
            .map(|(name, _)| name.clone())
            .collect()
    }
    /// `(bids, asks)` as lists of `(price, size, {venue: size})` tuples: the bulk form, built
    /// in one call instead of one `BookLevel` object and three attribute reads per level.
    fn to_tuples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        // Each venue name becomes one Python string, shared by every level's dict.
        let names: Vec<Bound<'py, PyString>> = self
            .venue_names
            .iter()
            .map(|name| PyString::new(py, name))
            .collect();
        let bids = side_tuples(py, &self.bids, &names)?;
        let asks = side_tuples(py, &self.asks, &names)?;
        PyTuple::new(py, [bids, asks])
    }
    fn __repr__(&self) -> String {
        format!(
            "ConsolidatedBook(venues={:?}, bids={} levels, asks={} levels, best_bid={:?}, best_ask={:?}, crossed={})",
            self.book.venues,
            self.bids.len(),
            self.asks.len(),
            self.book.best_bid,
            self.book.best_ask,
            self.book.crossed(),
        )
    }
}

/// `None` or a non-negative int; an int beyond the platform's range means "no limit".
fn depth_limit(depth: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(depth) = depth.filter(|depth| !depth.is_none()) else {
        return Ok(None);
    };
    let depth = depth
        .cast::<PyInt>()
        .map_err(|_| PyTypeError::new_err("depth must be an int or None"))?;
    if depth.lt(0)? {
        return Err(PyValueError::new_err(format!(
            "depth must be >= 0, got {depth}"
        )));
    }
    Ok(Some(depth.extract::<usize>().unwrap_or(usize::MAX)))
}

fn side_tuples<'py>(
    py: Python<'py>,
    side: &[AggregatedLevel],
    names: &[Bound<'py, PyString>],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for level in side {
        let venues = PyDict::new(py);
        for (venue, size) in &level.venues {
            venues.set_item(&names[*venue], size)?;
        }
        list.append((level.price, level.size, venues))?;
    }
    Ok(list)
}

fn extract_level(item: &Bound<'_, PyAny>) -> PyResult<Level> {
    // Tuples are the common shape (and what depth ladders return): read them without an
    // iterator; anything else that iterates to exactly two numbers is accepted too.
    if let Ok(tuple) = item.cast::<PyTuple>() {
        if tuple.len() == 2 {
            return Ok(Level {
                price: tuple.get_borrowed_item(0)?.extract()?,
                size: tuple.get_borrowed_item(1)?.extract()?,
            });
        }
    } else if let Ok(iter) = item.try_iter() {
        let values = iter
            .map(|value| value?.extract::<f64>())
            .collect::<PyResult<Vec<f64>>>()?;
        if let [price, size] = values[..] {
            return Ok(Level { price, size });
        }
    }
    Err(PyTypeError::new_err(format!(
        "a level must be a (price, size) pair, got {}",
        item.repr()
            .map_or_else(|_| "?".into(), |repr| repr.to_string())
    )))
}

fn extract_side(book: &Bound<'_, PyMapping>, key: &str, venue: &str) -> PyResult<Vec<Level>> {
    let levels = match book.get_item(key) {
        Ok(levels) if levels.is_none() => return Ok(Vec::new()),
        Ok(levels) => levels,
        Err(err) if err.is_instance_of::<pyo3::exceptions::PyKeyError>(book.py()) => {
            return Ok(Vec::new())
        }
        Err(err) => return Err(err),
    };
    let mut out = Vec::with_capacity(levels.len().unwrap_or(0));
    for (index, item) in levels.try_iter()?.enumerate() {
        let level = extract_level(&item?).map_err(|err| {
            let context = format!("venue {venue:?}, {key} level {index}: ");
            PyErr::from_type(
                err.get_type(book.py()),
                format!("{context}{}", err.value(book.py())),
            )
        })?;
        out.push(level);
    }
    Ok(out)
}

fn extract_book(item: &Bound<'_, PyAny>) -> PyResult<VenueBook> {
    let book = item.cast::<PyMapping>().map_err(|_| {
        PyTypeError::new_err(
            "each book must be a mapping {\"venue\": str, \"bids\": [...], \"asks\": [...]}",
        )
    })?;
    let venue: String = book.get_item("venue")?.extract()?;
    Ok(VenueBook {
        bids: extract_side(book, "bids", &venue)?,
        asks: extract_side(book, "asks", &venue)?,
        venue,
    })
}

/// Merges the order books of several venues into one consolidated view.
#[pyfunction]
#[pyo3(signature = (books, *, depth = None, price_bucket = None))]
pub fn aggregate_order_books(
    py: Python<'_>,
    books: &Bound<'_, PyAny>,
    depth: Option<&Bound<'_, PyAny>>,
    price_bucket: Option<f64>,
) -> PyResult<PyConsolidatedBook> {
    let depth = depth_limit(depth)?;
    let books: Vec<VenueBook> = books
        .try_iter()?
        .map(|item| extract_book(&item?))
        .collect::<PyResult<_>>()?;
    let options = AggregateOptions {
        depth,
        price_bucket,
    };
    let book = py
        .detach(|| aggregate(&books, options))
        .map_err(value_error)?;
    Ok(PyConsolidatedBook::new(book))
}
