//! Round trips through alloy's own encoders, malformed-input classes, and a bounded
//! randomized mutation sweep (stable Rust: no cargo-fuzz) that must never panic.

use alloy_consensus::{
    SignableTransaction, TxEip1559, TxEip2930, TxEip4844, TxEip7702, TxEnvelope, TxLegacy,
};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_eips::eip7702::{Authorization, SignedAuthorization};
use alloy_primitives::{Address, Bytes, Signature, TxKind, B256, U256};

use super::*;

fn signature() -> Signature {
    Signature::new(U256::from(0x1234_5678u64), U256::from(0x9abc_def0u64), true)
}

fn access_list() -> AccessList {
    AccessList(vec![AccessListItem {
        address: Address::repeat_byte(0xcd),
        storage_keys: vec![B256::with_last_byte(7)],
    }])
}

fn sample_envelopes() -> Vec<TxEnvelope> {
    let to = TxKind::Call(Address::repeat_byte(0xab));
    let input = Bytes::from_static(&[0xa9, 0x05, 0x9c, 0xbb, 0, 1, 2]);
    let legacy = |chain_id| TxLegacy {
        chain_id,
        nonce: 7,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to,
        value: U256::from(10u64).pow(U256::from(18u64)),
        input: input.clone(),
    };
    let auth = SignedAuthorization::new_unchecked(
        Authorization {
            chain_id: U256::from(42161u64),
            address: Address::repeat_byte(0x11),
            nonce: 3,
        },
        1,
        U256::from(5u64),
        U256::from(6u64),
    );
    vec![
        legacy(None).into_signed(signature()).into(),
        legacy(Some(42161)).into_signed(signature()).into(),
        TxEip2930 {
            chain_id: 42161,
            nonce: 1,
            gas_price: 1,
            gas_limit: 50_000,
            to,
            value: U256::MAX,
            access_list: access_list(),
            input: input.clone(),
        }
        .into_signed(signature())
        .into(),
        TxEip1559 {
            chain_id: 42161,
            nonce: 2,
            gas_limit: 90_000,
            max_fee_per_gas: 3_000_000_000,
            max_priority_fee_per_gas: 100_000_000,
            to: TxKind::Create,
            value: U256::ZERO,
            access_list: access_list(),
            input: input.clone(),
        }
        .into_signed(signature())
        .into(),
        TxEnvelope::Eip4844(
            TxEip4844 {
                chain_id: 1,
                nonce: 3,
                gas_limit: 100_000,
                max_fee_per_gas: 10,
                max_priority_fee_per_gas: 1,
                to: Address::repeat_byte(0xab),
                value: U256::from(1u64),
                access_list: AccessList::default(),
                blob_versioned_hashes: vec![B256::repeat_byte(0x01)],
                max_fee_per_blob_gas: 5,
                input: input.clone(),
            }
            .into_signed(signature())
            .into(),
        ),
        TxEip7702 {
            chain_id: 42161,
            nonce: 4,
            gas_limit: 100_000,
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 1,
            to: Address::repeat_byte(0xab),
            value: U256::ZERO,
            access_list: AccessList::default(),
            authorization_list: vec![auth],
            input,
        }
        .into_signed(signature())
        .into(),
    ]
}

fn encoded_samples() -> Vec<Vec<u8>> {
    sample_envelopes()
        .iter()
        .map(|envelope| envelope.encoded_2718())
        .collect()
}

#[test]
fn every_envelope_round_trips_with_its_hash() {
    for envelope in sample_envelopes() {
        let raw = envelope.encoded_2718();
        let decoded = decode_transaction(&raw, false).expect("valid sample");
        assert_eq!(decoded.envelope.encoded_2718(), raw);
        assert_eq!(decoded.hash(), alloy_primitives::keccak256(&raw));
        assert_eq!(decoded.sender, None);
        assert_eq!(decoded.authorities, None);
    }
}

#[test]
fn rejects_empty_trailing_truncated_and_unknown_type() {
    assert!(decode_transaction(&[], false)
        .unwrap_err()
        .0
        .contains("empty"));
    for raw in encoded_samples() {
        let mut trailing = raw.clone();
        trailing.push(0);
        assert!(decode_transaction(&trailing, false).is_err());
        for end in 0..raw.len() {
            assert!(
                decode_transaction(&raw[..end], false).is_err(),
                "prefix {end} accepted"
            );
        }
    }
    for type_byte in [0x00u8, 0x05, 0x7f] {
        assert!(decode_transaction(&[type_byte, 0xc0], false).is_err());
    }
}

/// xorshift64*: deterministic, dependency-free randomness for the mutation sweep.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, raw: &mut Vec<u8>) {
    match rng.below(5) {
        0 if !raw.is_empty() => {
            let at = rng.below(raw.len());
            raw[at] ^= 1 << rng.below(8);
        }
        1 if !raw.is_empty() => {
            let at = rng.below(raw.len());
            raw[at] = rng.next() as u8;
        }
        2 => raw.insert(rng.below(raw.len() + 1), rng.next() as u8),
        3 if !raw.is_empty() => {
            raw.remove(rng.below(raw.len()));
        }
        _ => {
            // RLP length bytes are where decoders go wrong: plant a long-form header.
            let at = rng.below(raw.len() + 1);
            let header = [0xb8 + rng.below(16) as u8, 0xff, 0xff, 0xff];
            raw.splice(at..at, header);
        }
    }
}

#[test]
fn randomized_mutations_never_panic() {
    let samples = encoded_samples();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for round in 0..40_000 {
        let mut raw = samples[round % samples.len()].clone();
        for _ in 0..=rng.below(4) {
            mutate(&mut rng, &mut raw);
        }
        // Either outcome is fine; a panic would fail the test (the inner function is called
        // directly, without catch_unwind, to prove the decoder itself stays panic-free).
        let ours = decode_unguarded(&raw, round % 64 == 0);
        // Differential check against alloy's own EIP-2718 entry point.
        let reference = TxEnvelope::decode_2718_exact(&raw);
        match (&ours, &reference) {
            (Ok(decoded), Ok(envelope)) => {
                assert_eq!(decoded.envelope.encoded_2718(), envelope.encoded_2718());
                assert_eq!(decoded.hash(), *envelope.tx_hash());
            }
            (Err(_), Err(_)) => {}
            // Recovery may refuse a decodable transaction; decoding alone must agree.
            (Err(err), Ok(_)) if err.0.starts_with("cannot recover") => {}
            _ => panic!("decoders disagree on {raw:02x?}: ours {ours:?}, alloy {reference:?}"),
        }
    }
}
