//! Market data: consolidating order books from several venues (exchanges and AMM depth
//! ladders) into one view.

pub mod book;
mod py;

pub use book::{aggregate_order_books, AggregateOptions, ConsolidatedBook, Level, VenueBook};

use pyo3::prelude::*;

/// Adds the order-book classes and functions to the extension module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<py::PyBookLevel>()?;
    module.add_class::<py::PyCrossing>()?;
    module.add_class::<py::PyConsolidatedBook>()?;
    module.add_function(wrap_pyfunction!(py::aggregate_order_books, module)?)?;
    Ok(())
}
