//! A hash that is the same on every replica, build and restart, for
//! choices that must agree everywhere: a viewer's experiment arm, the seed
//! of a per-viewer draw.

/// FNV-1a of `parts` with a zero byte between them.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let separator: &[u8] = if i == 0 { &[] } else { &[0] };
        for &byte in separator.iter().chain(part.iter()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// MurmurHash3's 64-bit finish: spreads `hash` over all its bits, for
/// taking it modulo a small number (FNV alone leaves inputs that differ
/// in their last bytes in few buckets).
pub fn mixed(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_kept_apart() {
        assert_eq!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"ab", b"c"]));
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
        assert_ne!(stable_hash(&[b"a"]), stable_hash(&[b"a", b""]));
        // FNV-1a's published value for "a".
        assert_eq!(stable_hash(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    }
}
