//! Chain monitoring: decoding raw signed transactions seen on the chain or in the mempool.

pub mod decode;
mod py;

pub use decode::{decode_transaction, DecodeError, DecodedTx};

use pyo3::prelude::*;

/// Adds the decoding classes and functions to the extension module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<py::PyDecodedTransaction>()?;
    module.add_class::<py::PyAuthorization>()?;
    module.add_function(wrap_pyfunction!(py::decode_transaction, module)?)?;
    module.add_function(wrap_pyfunction!(py::decode_transactions, module)?)?;
    Ok(())
}
