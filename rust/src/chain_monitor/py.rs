//! Python bindings for transaction decoding: `DecodedTransaction`, `Authorization`,
//! `decode_transaction` and the GIL-free batch `decode_transactions`.
//!
//! Decoding produces plain Rust values; every Python object (ints, hex strings, lists) is
//! built lazily when its attribute is read, so a batch pays only for what callers look at.

use alloy_consensus::transaction::to_eip155_value;
use alloy_consensus::{Transaction, TxEip4844Variant, TxEnvelope};
use alloy_eips::eip7702::SignedAuthorization;
use alloy_primitives::{Address, TxKind, U256};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyTuple};

use super::decode::{decode_batch, decode_transaction as decode_raw, DecodeError, DecodedTx};

fn value_error(err: DecodeError) -> PyErr {
    PyValueError::new_err(err.0)
}

/// Python int of any U256; the u128 path avoids a bytes round-trip for ordinary amounts.
fn u256_to_py<'py>(py: Python<'py>, value: U256) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(small) = u128::try_from(value) {
        return Ok(small.into_pyobject(py)?.into_any());
    }
    let bytes = PyBytes::new(py, &value.to_be_bytes::<32>());
    py.get_type::<PyInt>()
        .call_method1("from_bytes", (bytes, "big"))
}

fn checksummed(address: &Address) -> String {
    address.to_checksum(None)
}

/// One EIP-7702 authorization tuple of a type-4 transaction.
#[pyclass(frozen, module = "platform_rust", name = "Authorization")]
pub struct PyAuthorization {
    auth: SignedAuthorization,
    authority: Option<Address>,
}

#[pymethods]
impl PyAuthorization {
    #[getter]
    fn chain_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.auth.chain_id)
    }
    #[getter]
    fn address(&self) -> String {
        checksummed(&self.auth.address)
    }
    #[getter]
    fn nonce(&self) -> u64 {
        self.auth.nonce
    }
    #[getter]
    fn y_parity(&self) -> u8 {
        self.auth.y_parity()
    }
    #[getter]
    fn r<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.auth.r())
    }
    #[getter]
    fn s<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.auth.s())
    }
    /// Signer of the authorization: set only when decoded with `recover_sender=True` and the
    /// signature recovers (an invalid one is skipped by the chain, not fatal to the tx).
    #[getter]
    fn authority(&self) -> Option<String> {
        self.authority.as_ref().map(checksummed)
    }
    fn __repr__(&self) -> String {
        format!(
            "Authorization(chain_id={}, address={}, nonce={}, authority={})",
            self.auth.chain_id,
            checksummed(&self.auth.address),
            self.auth.nonce,
            self.authority.as_ref().map_or("None".into(), checksummed),
        )
    }
}

/// A decoded, signed Ethereum transaction of any EIP-2718 type.
#[pyclass(frozen, module = "platform_rust", name = "DecodedTransaction")]
pub struct PyDecodedTransaction {
    inner: DecodedTx,
}

impl PyDecodedTransaction {
    fn envelope(&self) -> &TxEnvelope {
        &self.inner.envelope
    }
    fn is_legacy_priced(&self) -> bool {
        matches!(
            self.envelope(),
            TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_)
        )
    }
}

#[pymethods]
impl PyDecodedTransaction {
    /// 0 legacy, 1 EIP-2930, 2 EIP-1559, 3 EIP-4844, 4 EIP-7702.
    #[getter]
    fn tx_type(&self) -> u8 {
        self.envelope().tx_type() as u8
    }
    /// None for a pre-EIP-155 legacy transaction.
    #[getter]
    fn chain_id(&self) -> Option<u64> {
        self.envelope().chain_id()
    }
    #[getter]
    fn nonce(&self) -> u64 {
        self.envelope().nonce()
    }
    /// Checksummed recipient, None for a contract creation.
    #[getter]
    fn to(&self) -> Option<String> {
        match self.envelope().kind() {
            TxKind::Call(address) => Some(checksummed(&address)),
            TxKind::Create => None,
        }
    }
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.envelope().value())
    }
    #[getter]
    fn input<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.envelope().input())
    }
    #[getter]
    fn gas_limit(&self) -> u64 {
        self.envelope().gas_limit()
    }
    /// Legacy and EIP-2930 only.
    #[getter]
    fn gas_price(&self) -> Option<u128> {
        self.envelope().gas_price()
    }
    /// Fee-market types (2, 3, 4) only.
    #[getter]
    fn max_fee_per_gas(&self) -> Option<u128> {
        (!self.is_legacy_priced()).then(|| self.envelope().max_fee_per_gas())
    }
    #[getter]
    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        (!self.is_legacy_priced())
            .then(|| self.envelope().max_priority_fee_per_gas())
            .flatten()
    }
    /// EIP-4844 only.
    #[getter]
    fn max_fee_per_blob_gas(&self) -> Option<u128> {
        self.envelope().max_fee_per_blob_gas()
    }
    /// `[(checksummed address, [0x storage key, ...]), ...]`; empty for legacy.
    #[getter]
    fn access_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        if let Some(access_list) = self.envelope().access_list() {
            for item in access_list.iter() {
                let keys: Vec<String> = item
                    .storage_keys
                    .iter()
                    .map(|key| format!("{key:#x}"))
                    .collect();
                list.append(PyTuple::new(
                    py,
                    [
                        checksummed(&item.address).into_pyobject(py)?.into_any(),
                        keys.into_pyobject(py)?,
                    ],
                )?)?;
            }
        }
        Ok(list)
    }
    /// 0x hex versioned hashes; empty unless EIP-4844.
    #[getter]
    fn blob_versioned_hashes(&self) -> Vec<String> {
        self.envelope()
            .blob_versioned_hashes()
            .map(|hashes| hashes.iter().map(|hash| format!("{hash:#x}")).collect())
            .unwrap_or_default()
    }
    /// True when the input was the EIP-4844 network form (blobs, commitments, proofs attached).
    #[getter]
    fn has_blob_sidecar(&self) -> bool {
        matches!(
            self.envelope(),
            TxEnvelope::Eip4844(signed) if matches!(signed.tx(), TxEip4844Variant::TxEip4844WithSidecar(_))
        )
    }
    /// EIP-7702 authorizations; empty for other types.
    #[getter]
    fn authorization_list(&self) -> Vec<PyAuthorization> {
        let auths = self.envelope().authorization_list().unwrap_or_default();
        let authorities = self.inner.authorities.as_deref().unwrap_or_default();
        auths
            .iter()
            .enumerate()
            .map(|(index, auth)| PyAuthorization {
                auth: auth.clone(),
                authority: authorities.get(index).copied().flatten(),
            })
            .collect()
    }
    #[getter]
    fn y_parity(&self) -> u8 {
        self.envelope().signature().v() as u8
    }
    /// Legacy only: the `v` as signed (27/28, or EIP-155 `chain_id * 2 + 35 + y_parity`).
    #[getter]
    fn v(&self) -> Option<u128> {
        match self.envelope() {
            TxEnvelope::Legacy(signed) => Some(to_eip155_value(
                signed.signature().v(),
                signed.tx().chain_id,
            )),
            _ => None,
        }
    }
    #[getter]
    fn r<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.envelope().signature().r())
    }
    #[getter]
    fn s<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.envelope().signature().s())
    }
    /// 0x hex transaction hash (for blob transactions: of the form without the sidecar).
    #[getter]
    fn hash(&self) -> String {
        format!("{:#x}", self.inner.hash())
    }
    /// Checksummed signer when decoded with `recover_sender=True`, else None.
    #[getter]
    fn sender(&self) -> Option<String> {
        self.inner.sender.as_ref().map(checksummed)
    }
    fn __repr__(&self) -> String {
        let to = match self.envelope().kind() {
            TxKind::Call(address) => checksummed(&address),
            TxKind::Create => "None".into(),
        };
        format!(
            "DecodedTransaction(tx_type={}, hash={:#x}, chain_id={}, nonce={}, to={}, value={}, sender={})",
            self.envelope().tx_type() as u8,
            self.inner.hash(),
            self.envelope().chain_id().map_or("None".into(), |id| id.to_string()),
            self.envelope().nonce(),
            to,
            self.envelope().value(),
            self.inner.sender.as_ref().map_or("None".into(), checksummed),
        )
    }
}

/// Decodes one raw signed transaction; raises ValueError on anything that is not exactly one
/// well-formed transaction.
#[pyfunction]
#[pyo3(signature = (raw, *, recover_sender = false))]
pub fn decode_transaction(
    py: Python<'_>,
    raw: &Bound<'_, PyAny>,
    recover_sender: bool,
) -> PyResult<PyDecodedTransaction> {
    let input = RawInput::from_py(raw)?;
    let bytes = input.as_slice();
    // Recovery is an elliptic-curve operation worth releasing the GIL for; a plain decode is
    // cheaper than the release itself.
    let decoded = if recover_sender {
        py.detach(|| decode_raw(bytes, true))
    } else {
        decode_raw(bytes, false)
    };
    decoded
        .map(|inner| PyDecodedTransaction { inner })
        .map_err(value_error)
}

/// Decodes many raw transactions with the GIL released.
///
/// `errors="raise"` (default): the first bad item raises ValueError naming its index.
/// `errors="return"`: a bad item's slot holds its ValueError instead, the others decode.
#[pyfunction]
#[pyo3(signature = (raws, *, recover_sender = false, errors = "raise"))]
pub fn decode_transactions<'py>(
    py: Python<'py>,
    raws: &Bound<'py, PyAny>,
    recover_sender: bool,
    errors: &str,
) -> PyResult<Bound<'py, PyList>> {
    let return_errors = match errors {
        "raise" => false,
        "return" => true,
        other => {
            return Err(PyValueError::new_err(format!(
                "errors must be \"raise\" or \"return\", not {other:?}"
            )))
        }
    };
    // `bytes` are immutable, so their buffers are borrowed while the GIL is released; any
    // other buffer (bytearray, memoryview) is copied first since another thread could mutate it.
    let inputs: Vec<RawInput<'py>> = raws
        .try_iter()?
        .map(|item| RawInput::from_py(&item?))
        .collect::<PyResult<_>>()?;
    let slices: Vec<&[u8]> = inputs.iter().map(RawInput::as_slice).collect();
    let list = PyList::empty(py);
    // Chunks keep the decoded values cache-hot between the GIL-free decode and the wrapping
    // into Python objects, instead of materialising the whole batch in Rust first.
    for (chunk_index, chunk) in slices.chunks(BATCH_CHUNK).enumerate() {
        let results = py.detach(|| decode_batch(chunk, recover_sender, !return_errors));
        for (offset, result) in results.into_iter().enumerate() {
            match result {
                Ok(inner) => list.append(Bound::new(py, PyDecodedTransaction { inner })?)?,
                Err(err) => {
                    let index = chunk_index * BATCH_CHUNK + offset;
                    let message = format!("transaction {index}: {}", err.0);
                    if !return_errors {
                        return Err(PyValueError::new_err(message));
                    }
                    list.append(PyValueError::new_err(message).into_value(py))?;
                }
            }
        }
    }
    Ok(list)
}

const BATCH_CHUNK: usize = 256;

/// One item of a batch: a borrowed immutable `bytes`, or a private copy of any other buffer.
enum RawInput<'py> {
    Bytes(Bound<'py, PyBytes>),
    Copied(Vec<u8>),
}

impl<'py> RawInput<'py> {
    /// `bytes` are borrowed; any other object exposing a byte buffer is copied.
    fn from_py(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(RawInput::Bytes(bytes.clone()));
        }
        let buffer = PyBuffer::<u8>::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected bytes or a byte buffer, not {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |name| name.to_string())
            ))
        })?;
        Ok(RawInput::Copied(buffer.to_vec(obj.py())?))
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            RawInput::Bytes(bytes) => bytes.as_bytes(),
            RawInput::Copied(bytes) => bytes,
        }
    }
}
