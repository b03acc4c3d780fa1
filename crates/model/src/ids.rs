//! Object identifiers.
//!
//! Ids are 27 base62 characters encoding 160 bits: a 48-bit millisecond timestamp, a 16-bit
//! sequence and 96 random bits. Within one process they strictly increase, so keyset pagination
//! by id lists objects in creation order and a page token stays valid while rows are inserted;
//! across replicas they are ordered to the millisecond. No database sequence is needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last (millisecond << 16 | sequence) handed out by this process.
static LAST: AtomicU64 = AtomicU64::new(0);

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of every id this module produces.
pub const ID_LEN: usize = 27;

/// A fresh, time-ordered, globally unique id.
pub fn new_id() -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut stamp = 0;
    let _ = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        stamp = (now_ms << 16).max(last + 1);
        Some(stamp)
    });
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&stamp.to_be_bytes()[..]);
    // The thread's CSPRNG (seeded from the OS): `Uuid::new_v4` made a getrandom system call
    // per id, and every row the store writes gets one.
    let random: [u8; 12] = rand::random();
    bytes[8..].copy_from_slice(&random);
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
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
        assert!(a < b, "ids increase");
        let many: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(is_plausible_id(&a));
        assert!(!is_plausible_id("../etc"));
    }
}
