//! Object identifiers.
//!
//! Ids are KSUID-style: 27 base62 characters encoding a 32-bit second timestamp and 128 random
//! bits. They sort by creation time (so keyset pagination by id lists objects in creation order
//! and pages stay stable under concurrent inserts) and need no database sequence.

use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// KSUID epoch (2014-05-13T16:53:20Z), so the 32-bit timestamp lasts past 2150.
const EPOCH_OFFSET: u64 = 1_400_000_000;
/// Length of every id this module produces.
pub const ID_LEN: usize = 27;

/// A fresh, time-ordered, globally unique id.
pub fn new_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_sub(EPOCH_OFFSET) as u32;
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    let random: [u8; 16] = uuid::Uuid::new_v4().into_bytes();
    bytes[4..].copy_from_slice(&random);
    encode_base62(&bytes)
}

fn encode_base62(bytes: &[u8; 20]) -> String {
    // Big-number division of the 160-bit value by 62, most significant digit first.
    let mut digits = [0u8; ID_LEN];
    let mut num: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    for slot in digits.iter_mut().rev() {
        let mut rem: u64 = 0;
        for part in num.iter_mut() {
            let acc = (rem << 32) | u64::from(*part);
            *part = (acc / 62) as u32;
            rem = acc % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    String::from_utf8(digits.to_vec()).unwrap_or_default()
}

/// Whether `s` looks like an id this server could have issued (length and alphabet), so that
/// obviously malformed ids are refused before touching the database.
pub fn is_plausible_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sortable_and_27_chars() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), ID_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(is_plausible_id(&a));
        assert!(!is_plausible_id("../etc"));
    }
}
