//! `platform_rust`: the performance core of the Strategy Execution Platform.
//!
//! This file is the single binding layer: each capability lives in its own module and
//! registers its Python-facing names here.

use pyo3::prelude::*;

pub mod chain_monitor;
pub mod execution;
pub mod market_data;
pub mod pool_math;
pub mod routing;

/// Crate version, as compiled; exposed to Python as `platform_rust.__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Build profile of the compiled extension ("release" or "debug"), so a user can tell
/// whether benchmark figures came from an optimised build.
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

#[pyfunction]
#[pyo3(name = "build_profile")]
fn py_build_profile() -> &'static str {
    build_profile()
}

#[pymodule]
fn _platform_rust(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    m.add_function(wrap_pyfunction!(py_build_profile, m)?)?;
    chain_monitor::register(m)?;
    market_data::register(m)?;
    execution::register(m)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_manifest() {
        assert_eq!(VERSION, env!("CARGO_PKG_VERSION"));
        assert!(VERSION.split('.').count() == 3);
    }

    #[test]
    fn build_profile_is_known() {
        assert!(matches!(build_profile(), "debug" | "release"));
    }
}
