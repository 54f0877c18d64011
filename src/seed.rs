//! Seeds and fingerprints, in one place: FNV-1a (64-bit), and the per-claim seed derived from a
//! master seed. Both are stable across platforms and versions, so a recorded seed or fingerprint
//! means the same thing in every release.

/// The FNV-1a offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The FNV-1a prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`, continuing from `h` (start from [`FNV_OFFSET`]).
///
/// ```
/// // The published FNV-1a test vector: "a" hashes to 0xaf63dc4c8601ec8c.
/// assert_eq!(aihf::seed::fnv1a(b"a", aihf::seed::FNV_OFFSET), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// A seed derived from the master seed and an id (a claim's), so that claims do not share random
/// streams: FNV-1a over the id, started from the offset basis mixed with the master seed.
pub fn derive_seed(master: u64, id: &str) -> u64 {
    fnv1a(id.as_bytes(), FNV_OFFSET ^ master)
}
