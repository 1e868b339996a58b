//! Python bindings of the route optimiser: `ExecutionEngine`, `Route`, `Split`, `Hop`.
//!
//! Only conversion and error mapping live here; the graph, math and search are in
//! `routing` and `pool_math`. The graph sits behind a read-write lock so searches run with
//! the GIL released while a market watcher keeps upserting from another thread.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};

use crate::pool_math::v3::{V3Params, V3State};
use crate::pool_math::{MathError, U256};
use crate::routing::graph::{Graph, QuoteError};
use crate::routing::{self, depth, RouteError, RouteRequest, RouteResult, SettledHop};

create_exception!(
    platform_rust,
    NoRouteError,
    PyValueError,
    "No route connects the tokens (within the hop limit, venues and liquidity given)."
);

/// Token ids recognised as wrapped ether when no gas token is configured.
const KNOWN_GAS_TOKENS: [&str; 2] = ["WETH", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"];

fn u256_from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<U256> {
    if let Ok(v) = obj.extract::<u128>() {
        return Ok(U256::from(v));
    }
    if !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{what} must be an int")));
    }
    if obj.lt(0)? {
        return Err(PyValueError::new_err(format!(
            "{what} must be non-negative"
        )));
    }
    let bytes = obj
        .call_method1("to_bytes", (32, "little"))
        .map_err(|_| PyValueError::new_err(format!("{what} exceeds uint256")))?;
    let bytes = bytes.cast_into::<PyBytes>()?;
    U256::try_from_le_slice(bytes.as_bytes())
        .ok_or_else(|| PyValueError::new_err(format!("{what} exceeds uint256")))
}

/// A Python int that must fit `T`; out of range is a ValueError, not an OverflowError.
fn int_arg<T: TryFrom<i128>>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{what} must be an int")));
    }
    let out_of_range = || PyValueError::new_err(format!("{what} is out of range"));
    let v: i128 = obj.extract().map_err(|_| out_of_range())?;
    T::try_from(v).map_err(|_| out_of_range())
}

// `#[pyo3(from_py_with)]` extractors for the int arguments that have a default: the
// signature then carries the default itself (so Python's `inspect.signature` and the stub
// agree on it) while a value out of range is still a ValueError naming the argument.
fn fee_pips_arg(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    int_arg(obj, "fee_pips")
}

fn max_hops_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    int_arg(obj, "max_hops")
}

/// `None` (the default): as many splits as the optimum needs, up to a safety cap.
fn max_splits_arg(obj: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if obj.is_none() {
        return Ok(None);
    }
    int_arg(obj, "max_splits").map(Some)
}

fn levels_arg(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    int_arg(obj, "levels")
}

fn decimals_in_arg(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    int_arg(obj, "decimals_in")
}

fn decimals_out_arg(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    int_arg(obj, "decimals_out")
}

fn u256_to_py(py: Python<'_>, v: U256) -> PyResult<Py<PyAny>> {
    if v <= U256::from(u128::MAX) {
        return Ok(v.to::<u128>().into_pyobject(py)?.into_any().unbind());
    }
    let bytes = PyBytes::new(py, &v.to_le_bytes::<32>());
    Ok(py
        .get_type::<PyInt>()
        .call_method1("from_bytes", (bytes, "little"))?
        .unbind())
}

fn math_err(context: &str, e: MathError) -> PyErr {
    PyValueError::new_err(format!("{context}: {e}"))
}

fn route_err(e: RouteError) -> PyErr {
    match e {
        RouteError::Invalid(m) => PyValueError::new_err(m),
        RouteError::NoRoute(m) => NoRouteError::new_err(m),
    }
}

/// One pool traversal of a split.
#[pyclass(frozen, get_all, module = "platform_rust")]
pub struct Hop {
    pool_id: String,
    token_in: String,
    token_out: String,
    amount_in: Py<PyAny>,
    amount_out: Py<PyAny>,
}

#[pymethods]
impl Hop {
    fn __repr__(&self) -> String {
        format!(
            "Hop({} {} -> {}, in={}, out={})",
            self.pool_id, self.token_in, self.token_out, self.amount_in, self.amount_out
        )
    }
}

/// One path of a route with the share of the input it carries.
#[pyclass(frozen, get_all, module = "platform_rust")]
pub struct Split {
    amount_in: Py<PyAny>,
    amount_out: Py<PyAny>,
    hops: Vec<Py<Hop>>,
    gas_units: u64,
}

#[pymethods]
impl Split {
    /// Pool ids in order: the `pool_path` to pass to `ExecutionEngine.quote`.
    #[getter]
    fn pool_path(&self) -> Vec<String> {
        self.hops.iter().map(|h| h.get().pool_id.clone()).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Split(in={}, out={}, hops={})",
            self.amount_in,
            self.amount_out,
            self.hops.len()
        )
    }
}

/// One transaction of a route: a run of pools on one venue, traded once.
#[pyclass(frozen, get_all, module = "platform_rust")]
pub struct Leg {
    amount_in: Py<PyAny>,
    amount_out: Py<PyAny>,
    hops: Vec<Py<Hop>>,
    inputs: Vec<(Option<usize>, Py<PyAny>)>,
    gas_units: u64,
}

#[pymethods]
impl Leg {
    fn __repr__(&self) -> String {
        format!(
            "Leg(in={}, out={}, hops={}, inputs={})",
            self.amount_in,
            self.amount_out,
            self.hops.len(),
            self.inputs.len()
        )
    }
}

/// The result of `optimize_route`.
#[pyclass(frozen, get_all, module = "platform_rust")]
pub struct Route {
    amount_in: Py<PyAny>,
    amount_out: Py<PyAny>,
    splits: Vec<Py<Split>>,
    legs: Vec<Py<Leg>>,
    gas_units: u64,
    gas_cost_out: Py<PyAny>,
    amount_out_net: Py<PyAny>,
}

#[pymethods]
impl Route {
    fn __repr__(&self) -> String {
        format!(
            "Route(in={}, out={}, splits={}, gas_units={}, gas_cost_out={})",
            self.amount_in,
            self.amount_out,
            self.splits.len(),
            self.gas_units,
            self.gas_cost_out
        )
    }
}

/// Pool and token names of every hop (the splits', then the legs'), resolved while the
/// graph lock that produced the route is still held (indices may be reused once released).
type HopNames = Vec<Vec<(String, String, String)>>;

fn hop_names(graph: &Graph, r: &RouteResult) -> HopNames {
    let name = |h: &SettledHop| {
        (
            graph.pool(h.pool).id.clone(),
            graph.token_name(h.token_in).to_owned(),
            graph.token_name(h.token_out).to_owned(),
        )
    };
    let splits = r.splits.iter().map(|s| s.hops.iter().map(name).collect());
    splits
        .chain(r.legs.iter().map(|l| l.hops.iter().map(name).collect()))
        .collect()
}

fn hops_to_py(
    py: Python<'_>,
    hops: &[SettledHop],
    names: Vec<(String, String, String)>,
) -> PyResult<Vec<Py<Hop>>> {
    let mut out = Vec::with_capacity(hops.len());
    for (h, (pool_id, token_in, token_out)) in hops.iter().zip(names) {
        let hop = Hop {
            pool_id,
            token_in,
            token_out,
            amount_in: u256_to_py(py, h.amount_in)?,
            amount_out: u256_to_py(py, h.amount_out)?,
        };
        out.push(Py::new(py, hop)?);
    }
    Ok(out)
}

fn route_to_py(py: Python<'_>, names: HopNames, r: &RouteResult) -> PyResult<Route> {
    let mut names = names.into_iter();
    let mut splits = Vec::with_capacity(r.splits.len());
    for s in &r.splits {
        let split = Split {
            amount_in: u256_to_py(py, s.amount_in)?,
            amount_out: u256_to_py(py, s.amount_out)?,
            hops: hops_to_py(py, &s.hops, names.next().unwrap_or_default())?,
            gas_units: s.gas_units,
        };
        splits.push(Py::new(py, split)?);
    }
    let mut legs = Vec::with_capacity(r.legs.len());
    for l in &r.legs {
        let inputs = l
            .inputs
            .iter()
            .map(|(from, a)| Ok((*from, u256_to_py(py, *a)?)))
            .collect::<PyResult<_>>()?;
        let leg = Leg {
            amount_in: u256_to_py(py, l.amount_in)?,
            amount_out: u256_to_py(py, l.amount_out)?,
            hops: hops_to_py(py, &l.hops, names.next().unwrap_or_default())?,
            inputs,
            gas_units: l.gas_units,
        };
        legs.push(Py::new(py, leg)?);
    }
    let amount_out_net = if r.amount_out >= r.gas_cost_out {
        u256_to_py(py, r.amount_out - r.gas_cost_out)?
    } else {
        u256_to_py(py, r.gas_cost_out - r.amount_out)?
            .bind(py)
            .neg()?
            .unbind()
    };
    Ok(Route {
        amount_in: u256_to_py(py, r.amount_in)?,
        amount_out: u256_to_py(py, r.amount_out)?,
        splits,
        legs,
        gas_units: r.gas_units,
        gas_cost_out: u256_to_py(py, r.gas_cost_out)?,
        amount_out_net,
    })
}

/// In-memory liquidity graph with exact pool math and a split-route optimiser.
#[pyclass(frozen, module = "platform_rust")]
pub struct ExecutionEngine {
    graph: RwLock<Graph>,
    gas_token: Option<String>,
}

impl ExecutionEngine {
    fn read(&self) -> RwLockReadGuard<'_, Graph> {
        self.graph.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Graph> {
        self.graph.write().unwrap_or_else(|e| e.into_inner())
    }

    fn quote_paths(&self, paths: Vec<(Vec<String>, U256)>, token_in: &str) -> PyResult<Vec<U256>> {
        let graph = self.read();
        let token = graph
            .token(token_in)
            .ok_or_else(|| PyValueError::new_err(format!("unknown token {token_in:?}")))?;
        let mut resolved = Vec::with_capacity(paths.len());
        for (ids, amount) in &paths {
            if ids.is_empty() {
                return Err(PyValueError::new_err("pool_path is empty"));
            }
            let mut path = Vec::with_capacity(ids.len());
            for id in ids {
                path.push(
                    graph
                        .pool_index(id)
                        .ok_or_else(|| PyValueError::new_err(format!("unknown pool {id:?}")))?,
                );
            }
            resolved.push((path, *amount));
        }
        let refs: Vec<(&[u32], U256)> = resolved.iter().map(|(p, a)| (p.as_slice(), *a)).collect();
        graph.quote_sequential(&refs, token).map_err(|e| match e {
            QuoteError::NotInPool(p, t) => PyValueError::new_err(format!(
                "pool {p:?} does not trade token {:?}",
                graph.token_name(t)
            )),
            QuoteError::Math(p, e) => math_err(&format!("pool {p:?}"), e),
        })
    }

    fn gas_token_in(&self, graph: &Graph) -> Option<String> {
        match &self.gas_token {
            Some(t) => Some(t.clone()),
            None => KNOWN_GAS_TOKENS
                .iter()
                .find(|t| graph.token(t).is_some())
                .map(|t| (*t).to_owned()),
        }
    }
}

#[pymethods]
impl ExecutionEngine {
    #[new]
    #[pyo3(signature = (*, gas_token=None))]
    fn new(gas_token: Option<String>) -> Self {
        ExecutionEngine {
            graph: RwLock::new(Graph::new()),
            gas_token,
        }
    }

    #[pyo3(signature = (pool_id, token0, token1, reserve0, reserve1, fee_pips=3000, venue="uniswap_v2"))]
    #[allow(clippy::too_many_arguments)]
    fn upsert_v2_pool(
        &self,
        pool_id: &str,
        token0: &str,
        token1: &str,
        reserve0: &Bound<'_, PyAny>,
        reserve1: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = fee_pips_arg)] fee_pips: u32,
        venue: &str,
    ) -> PyResult<()> {
        let r0 = u256_from_py(reserve0, "reserve0")?;
        let r1 = u256_from_py(reserve1, "reserve1")?;
        self.write()
            .upsert_v2(pool_id, token0, token1, (r0, r1), fee_pips, venue)
            .map_err(|e| math_err(pool_id, e))
    }

    #[pyo3(signature = (pool_id, token0, token1, fee_pips, tick_spacing, sqrt_price_x96, liquidity, tick, ticks, venue="uniswap_v3"))]
    #[allow(clippy::too_many_arguments)]
    fn upsert_v3_pool(
        &self,
        pool_id: &str,
        token0: &str,
        token1: &str,
        fee_pips: &Bound<'_, PyAny>,
        tick_spacing: &Bound<'_, PyAny>,
        sqrt_price_x96: &Bound<'_, PyAny>,
        liquidity: &Bound<'_, PyAny>,
        tick: &Bound<'_, PyAny>,
        ticks: &Bound<'_, PyAny>,
        venue: &str,
    ) -> PyResult<()> {
        let fee_pips: u32 = int_arg(fee_pips, "fee_pips")?;
        let tick_spacing: i32 = int_arg(tick_spacing, "tick_spacing")?;
        let tick: i32 = int_arg(tick, "tick")?;
        let sqrt_price = u256_from_py(sqrt_price_x96, "sqrt_price_x96")?;
        let liquidity = u256_from_py(liquidity, "liquidity")?;
        let liquidity: u128 = liquidity
            .try_into()
            .map_err(|_| PyValueError::new_err("liquidity exceeds uint128"))?;
        let mut list = Vec::new();
        for item in ticks.try_iter()? {
            let (index, net): (i32, Bound<'_, PyAny>) = item?.extract().map_err(|_| {
                PyValueError::new_err("ticks must be (tick_index, liquidity_net) pairs of ints")
            })?;
            let net: i128 = net
                .extract()
                .map_err(|_| PyValueError::new_err("liquidity_net must be an int128"))?;
            list.push((index, net));
        }
        let params =
            V3Params::new(fee_pips, tick_spacing, list).map_err(|e| math_err(pool_id, e))?;
        let state = V3State::new(sqrt_price, liquidity, tick).map_err(|e| math_err(pool_id, e))?;
        self.write()
            .upsert_v3(pool_id, token0, token1, params, state, venue)
            .map_err(|e| math_err(pool_id, e))
    }

    /// Removes a pool; unknown ids raise `ValueError`.
    fn remove_pool(&self, pool_id: &str) -> PyResult<()> {
        if self.write().remove(pool_id) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!("unknown pool {pool_id:?}")))
        }
    }

    fn pool_count(&self) -> usize {
        self.read().pool_count()
    }

    /// Exact output of swapping `amount_in` of `token_in` along `pool_path`.
    fn quote(
        &self,
        py: Python<'_>,
        pool_path: Vec<String>,
        token_in: &str,
        amount_in: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let amount = u256_from_py(amount_in, "amount_in")?;
        let outs = self.quote_paths(vec![(pool_path, amount)], token_in)?;
        u256_to_py(py, outs[0])
    }

    /// Exact outputs of `(pool_path, amount_in)` swaps executed one after another.
    fn quote_sequential(
        &self,
        py: Python<'_>,
        paths: Vec<(Vec<String>, Bound<'_, PyAny>)>,
        token_in: &str,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut parsed = Vec::with_capacity(paths.len());
        for (path, amount) in paths {
            parsed.push((path, u256_from_py(&amount, "amount_in")?));
        }
        let outs = self.quote_paths(parsed, token_in)?;
        outs.into_iter().map(|v| u256_to_py(py, v)).collect()
    }

    #[pyo3(signature = (token_in, token_out, amount_in, *, max_hops=3, max_splits=None, allowed_venues=None, gas_price_wei=None, single_venue_paths=false))]
    #[allow(clippy::too_many_arguments)]
    fn optimize_route(
        &self,
        py: Python<'_>,
        token_in: String,
        token_out: String,
        amount_in: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = max_hops_arg)] max_hops: usize,
        #[pyo3(from_py_with = max_splits_arg)] max_splits: Option<usize>,
        allowed_venues: Option<Vec<String>>,
        gas_price_wei: Option<&Bound<'_, PyAny>>,
        single_venue_paths: bool,
    ) -> PyResult<Route> {
        let amount_in = u256_from_py(amount_in, "amount_in")?;
        let gas_price_wei = match gas_price_wei {
            Some(g) => u256_from_py(g, "gas_price_wei")?,
            None => U256::ZERO,
        };
        let req = RouteRequest {
            token_in,
            token_out,
            amount_in,
            max_hops,
            max_splits: max_splits.unwrap_or(routing::DEFAULT_MAX_SPLITS),
            allowed_venues,
            gas_price_wei,
            single_venue_paths,
        };
        let (result, names) = py
            .detach(|| {
                let graph = self.read();
                let gas_token = self.gas_token_in(&graph);
                routing::optimize(&graph, &req, gas_token.as_deref()).map(|r| {
                    let names = hop_names(&graph, &r);
                    (r, names)
                })
            })
            .map_err(route_err)?;
        route_to_py(py, names, &result)
    }

    /// Order-book view of one pool for sells of `token_in`: `[(price, cumulative_size)]`.
    #[pyo3(signature = (pool_id, token_in, *, levels=20, max_impact_bps=500.0, decimals_in=0, decimals_out=0, cumulative=true))]
    #[allow(clippy::too_many_arguments)]
    fn depth_ladder(
        &self,
        pool_id: &str,
        token_in: &str,
        #[pyo3(from_py_with = levels_arg)] levels: u32,
        max_impact_bps: f64,
        #[pyo3(from_py_with = decimals_in_arg)] decimals_in: u8,
        #[pyo3(from_py_with = decimals_out_arg)] decimals_out: u8,
        cumulative: bool,
    ) -> PyResult<Vec<(f64, f64)>> {
        let graph = self.read();
        let p = graph
            .pool_index(pool_id)
            .ok_or_else(|| PyValueError::new_err(format!("unknown pool {pool_id:?}")))?;
        let pool = graph.pool(p);
        let t = graph
            .token(token_in)
            .ok_or_else(|| PyValueError::new_err(format!("unknown token {token_in:?}")))?;
        if pool.other(t).is_none() {
            return Err(PyValueError::new_err(format!(
                "pool {pool_id:?} does not trade token {token_in:?}"
            )));
        }
        let raw = depth::depth_ladder(pool, t == pool.token0, levels, max_impact_bps)
            .map_err(|e| math_err(pool_id, e))?;
        let price_scale = 10f64.powi(decimals_in as i32 - decimals_out as i32);
        let size_scale = 10f64.powi(-(decimals_in as i32));
        let mut previous = 0.0;
        Ok(raw
            .into_iter()
            .map(|(price, size)| {
                let level_size = if cumulative { size } else { size - previous };
                previous = size;
                (price * price_scale, level_size * size_scale)
            })
            .collect())
    }

    fn __len__(&self) -> usize {
        self.read().pool_count()
    }
}

/// Adds the engine's classes and exception to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ExecutionEngine>()?;
    m.add_class::<Route>()?;
    m.add_class::<Leg>()?;
    m.add_class::<Split>()?;
    m.add_class::<Hop>()?;
    m.add("NoRouteError", m.py().get_type::<NoRouteError>())?;
    Ok(())
}
