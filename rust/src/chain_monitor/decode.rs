//! Pure-Rust decoding of raw EIP-2718 transactions, independent of Python.
//!
//! All field parsing is delegated to `alloy-consensus` (strict RLP: canonical integers and
//! lengths, exact list lengths). This module adds what the platform needs on top: a "whole
//! input, nothing else" rule, a lazily computed hash, optional signer recovery, and a panic
//! guard so no input can take the interpreter down.
//!
//! Why not `TxEnvelope::decode_2718_exact` directly: it hashes every transaction while
//! decoding, and keccak was half of the batch cost. The EIP-2718 dispatch below is the same
//! one-byte switch over alloy's per-type decoders, but builds `Signed::new_unhashed`, so the
//! hash is computed (and cached) only when read. A test checks both paths agree on every
//! accepted and rejected input of a mutation sweep.

use std::panic::{catch_unwind, AssertUnwindSafe};

use alloy_consensus::transaction::{RlpEcdsaDecodableTx, SignerRecoverable};
use alloy_consensus::{
    Signed, TxEip1559, TxEip2930, TxEip4844Variant, TxEip7702, TxEnvelope, TxLegacy,
};
use alloy_primitives::{Address, B256};

/// A successfully decoded transaction plus what was derived from it.
#[derive(Debug, Clone)]
pub struct DecodedTx {
    /// Signed transaction; its hash is computed on first use.
    pub envelope: TxEnvelope,
    /// Signer of the transaction, when recovery was requested.
    pub sender: Option<Address>,
    /// Per EIP-7702 authorization: its recovered authority (None when it does not recover),
    /// present only when recovery was requested.
    pub authorities: Option<Vec<Option<Address>>>,
}

/// Why a byte string is not a transaction we accept. The text is shown to Python users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one raw transaction (legacy RLP list or `type || payload`, including the EIP-4844
/// network form with blobs, commitments and proofs). The whole input must be one transaction.
pub fn decode_transaction(raw: &[u8], recover_sender: bool) -> Result<DecodedTx, DecodeError> {
    // alloy is not expected to panic on any input, but a panic here would surface in Python as
    // a PanicException (or worse), so it is turned into an ordinary decoding error.
    catch_unwind(AssertUnwindSafe(|| decode_unguarded(raw, recover_sender))).unwrap_or_else(|_| {
        Err(DecodeError(
            "invalid transaction: decoder rejected the input (internal panic caught)".into(),
        ))
    })
}

fn decode_unguarded(raw: &[u8], recover_sender: bool) -> Result<DecodedTx, DecodeError> {
    if raw.is_empty() {
        return Err(DecodeError("invalid transaction: empty input".into()));
    }
    let envelope =
        decode_envelope(raw).map_err(|err| DecodeError(format!("invalid transaction: {err}")))?;
    let (sender, authorities) = if recover_sender {
        let sender = envelope
            .recover_signer()
            .map_err(|err| DecodeError(format!("cannot recover the sender: {err}")))?;
        (Some(sender), Some(recover_authorities(&envelope)))
    } else {
        (None, None)
    };
    Ok(DecodedTx {
        envelope,
        sender,
        authorities,
    })
}

/// Decodes a batch in order. With `stop_at_first_error` the result ends at the first failure.
/// Recovery (tens of microseconds each) is spread over the available cores; plain decoding
/// is cheaper than starting threads and stays on the caller's thread.
pub fn decode_batch(
    raws: &[&[u8]],
    recover_sender: bool,
    stop_at_first_error: bool,
) -> Vec<Result<DecodedTx, DecodeError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if recover_sender && threads > 1 && raws.len() >= 64 {
        let per_thread = raws.len().div_ceil(threads);
        let mut results: Vec<_> = std::thread::scope(|scope| {
            let workers: Vec<_> = raws
                .chunks(per_thread)
                .map(|part| {
                    let worker = std::thread::Builder::new().spawn_scoped(scope, move || {
                        decode_sequential(part, true, stop_at_first_error)
                    });
                    (part, worker)
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|(part, worker)| match worker {
                    Ok(handle) => handle.join().unwrap_or_else(|_| {
                        // Unreachable (decode_transaction catches panics), but a lost worker
                        // must not shift the indices of the results after it.
                        let lost = DecodeError("invalid transaction: worker failed".into());
                        vec![Err(lost); part.len()]
                    }),
                    // The OS refused a thread: decode this part here instead.
                    Err(_) => decode_sequential(part, true, stop_at_first_error),
                })
                .collect()
        });
        if stop_at_first_error {
            if let Some(first_error) = results.iter().position(Result::is_err) {
                results.truncate(first_error + 1);
            }
        }
        return results;
    }
    decode_sequential(raws, recover_sender, stop_at_first_error)
}

fn decode_sequential(
    raws: &[&[u8]],
    recover_sender: bool,
    stop_at_first_error: bool,
) -> Vec<Result<DecodedTx, DecodeError>> {
    let mut results = Vec::with_capacity(raws.len());
    for raw in raws {
        let result = decode_transaction(raw, recover_sender);
        let failed = result.is_err();
        results.push(result);
        if failed && stop_at_first_error {
            break;
        }
    }
    results
}

impl DecodedTx {
    /// Transaction hash, computed once on first call. For a blob transaction in network form it
    /// covers the form without the sidecar, as the chain reports it (alloy's `Signed::hash`
    /// hashes the consensus encoding of the inner transaction).
    pub fn hash(&self) -> B256 {
        *self.envelope.tx_hash()
    }
}

/// EIP-2718: a first byte of 0xc0 or more opens a legacy RLP list; 0x01..=0x04 are typed
/// envelopes `type || rlp(fields)`; anything else is not a transaction we know.
fn decode_envelope(raw: &[u8]) -> Result<TxEnvelope, String> {
    let (&first, payload) = raw.split_first().ok_or("empty input")?;
    let mut buf = if first >= 0xc0 { raw } else { payload };
    let envelope = match first {
        0xc0..=0xff => TxEnvelope::Legacy(decode_signed::<TxLegacy>(&mut buf)?),
        0x01 => TxEnvelope::Eip2930(decode_signed::<TxEip2930>(&mut buf)?),
        0x02 => TxEnvelope::Eip1559(decode_signed::<TxEip1559>(&mut buf)?),
        0x03 => TxEnvelope::Eip4844(decode_signed::<TxEip4844Variant>(&mut buf)?),
        0x04 => TxEnvelope::Eip7702(decode_signed::<TxEip7702>(&mut buf)?),
        0x80..=0xbf => return Err("an RLP string, not a legacy list or a typed envelope".into()),
        other => return Err(format!("unknown transaction type {other:#04x}")),
    };
    if !buf.is_empty() {
        return Err(format!(
            "{} trailing bytes after the transaction",
            buf.len()
        ));
    }
    Ok(envelope)
}

fn decode_signed<T: RlpEcdsaDecodableTx>(buf: &mut &[u8]) -> Result<Signed<T>, String> {
    let (tx, signature) = T::rlp_decode_with_signature(buf).map_err(|err| err.to_string())?;
    Ok(Signed::new_unhashed(tx, signature))
}

fn recover_authorities(envelope: &TxEnvelope) -> Vec<Option<Address>> {
    match envelope {
        TxEnvelope::Eip7702(signed) => signed
            .tx()
            .authorization_list
            .iter()
            .map(|auth| auth.recover_authority().ok())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
