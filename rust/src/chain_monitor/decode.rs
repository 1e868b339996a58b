//! Pure-Rust decoding of raw EIP-2718 transactions, independent of Python.
//!
//! All envelope parsing is delegated to `alloy-consensus` (strict RLP: canonical integers and
//! lengths, exact list lengths); this module only adds what the platform needs on top: a
//! "whole input, nothing else" rule, the correct hash for blob transactions in network form,
//! optional signer recovery, and a panic guard so no input can take the interpreter down.

use std::panic::{catch_unwind, AssertUnwindSafe};

use alloy_consensus::transaction::{RlpEcdsaEncodableTx, SignerRecoverable};
use alloy_consensus::{TxEip4844Variant, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256};

/// A successfully decoded transaction plus what was derived from it.
#[derive(Debug, Clone)]
pub struct DecodedTx {
    pub envelope: TxEnvelope,
    /// Hash of the canonical (consensus) encoding: for a blob transaction in network form this
    /// excludes the sidecar, exactly as the chain will report it.
    pub hash: B256,
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
    let envelope = TxEnvelope::decode_2718_exact(raw)
        .map_err(|err| DecodeError(format!("invalid transaction: {err}")))?;
    let hash = canonical_hash(&envelope);
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
        hash,
        sender,
        authorities,
    })
}

/// alloy hashes the bytes it consumed, which for a blob transaction in network form would
/// include the sidecar; the transaction hash is defined over the form without it.
fn canonical_hash(envelope: &TxEnvelope) -> B256 {
    match envelope {
        TxEnvelope::Eip4844(signed)
            if matches!(signed.tx(), TxEip4844Variant::TxEip4844WithSidecar(_)) =>
        {
            signed.tx().tx_hash(signed.signature())
        }
        _ => *envelope.tx_hash(),
    }
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
