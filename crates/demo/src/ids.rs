//! Realistic-looking identifiers: did:plc DIDs and TID record keys.

/// The base32 alphabet of did:plc identifiers.
const PLC_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A stable did:plc for user `index` of a dataset seeded with `seed`.
pub fn did_for(seed: u64, index: u64) -> String {
    let mut id = String::with_capacity(32);
    id.push_str("did:plc:");
    let mut state = splitmix(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    for chunk in 0..24 {
        if chunk % 12 == 0 {
            state = splitmix(state);
        }
        id.push(PLC_ALPHABET[((state >> (5 * (chunk % 12))) & 31) as usize] as char);
    }
    id
}

/// A TID record key: 53 bits of microseconds then a 10-bit clock id.
pub fn tid(time_us: u64, clock_id: u16) -> String {
    feedmixer_atproto::Tid::new(time_us, clock_id).to_string()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dids_are_plc_shaped_and_distinct() {
        let a = did_for(1, 1);
        assert_eq!(a.len(), "did:plc:".len() + 24);
        assert_ne!(a, did_for(1, 2));
        assert_eq!(a, did_for(1, 1));
    }

    #[test]
    fn tids_sort_by_time() {
        assert_eq!(tid(0, 0), "2222222222222");
        assert!(tid(1_700_000_000_000_000, 5) < tid(1_700_000_000_000_001, 0));
    }
}
