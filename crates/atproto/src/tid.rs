//! TIDs (timestamp identifiers): the record keys of posts and likes, and
//! repo revisions. A TID is a 64-bit value, top bit 0, then 53 bits of
//! microseconds since the Unix epoch and a 10-bit clock id, written as 13
//! characters of base32 in the sortable alphabet `234567a-z`, so string
//! order is time order.

use std::fmt;

/// The sortable base32 alphabet: digit value = index.
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
/// Digit values by byte, [`INVALID`] for bytes outside the alphabet.
const DIGITS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0x80;
/// Characters in a TID.
pub const TID_LEN: usize = 13;
const TIME_BITS: u32 = 53;
const CLOCK_BITS: u32 = 10;

/// A decoded TID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tid(u64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a TID is 13 characters of 234567a-z, the first one of 234567a-j")]
pub struct TidError;

impl Tid {
    /// The TID of `time_us` (microseconds since the epoch, low 53 bits kept)
    /// and `clock_id` (low 10 bits kept).
    pub fn new(time_us: u64, clock_id: u16) -> Self {
        let time = time_us & ((1 << TIME_BITS) - 1);
        let clock = u64::from(clock_id) & ((1 << CLOCK_BITS) - 1);
        Tid((time << CLOCK_BITS) | clock)
    }

    /// Decodes a TID. Refuses anything but the spec's syntax: 13 characters
    /// of the alphabet, the first one of `234567a-j` (65 bits would not fit
    /// in 64). The spec's "top bit is 0" is not enforced, as its syntax
    /// check does not: such a TID decodes to a time past 2255.
    pub fn parse(s: &str) -> Result<Self, TidError> {
        if s.len() != TID_LEN {
            return Err(TidError);
        }
        let mut value = 0u64;
        // Stores parse two TIDs per like: a table lookup per character,
        // and one check of them all at the end.
        let mut invalid = 0u8;
        for &b in s.as_bytes() {
            let digit = DIGITS[usize::from(b)];
            invalid |= digit;
            value = (value << 5) | u64::from(digit & 31);
        }
        if invalid & INVALID != 0 {
            return Err(TidError);
        }
        // 13 x 5 = 65 bits were shifted in: the first character's top bit
        // fell off, so it must have been 0.
        if s.as_bytes()[0] > b'j' {
            return Err(TidError);
        }
        Ok(Tid(value))
    }

    /// The TID's 64 bits, as [`Tid::from_bits`] takes them back: what a
    /// compact index stores instead of the 13 characters.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// The TID of 64 bits from [`Tid::bits`].
    pub fn from_bits(bits: u64) -> Self {
        Tid(bits)
    }

    /// Microseconds since the Unix epoch.
    pub fn time_us(self) -> u64 {
        self.0 >> CLOCK_BITS
    }

    /// The clock id that makes TIDs of the same microsecond distinct.
    pub fn clock_id(self) -> u16 {
        (self.0 & ((1 << CLOCK_BITS) - 1)) as u16
    }

    /// Whole seconds since the Unix epoch, saturating at `u32::MAX` (2106).
    pub fn unix_secs(self) -> u32 {
        u32::try_from(self.time_us() / 1_000_000).unwrap_or(u32::MAX)
    }
}

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; TID_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (TID_LEN - 1 - i);
            *slot = ALPHABET[((self.0 >> shift) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&out).expect("the alphabet is ASCII"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(Tid::new(0, 0).to_string(), "2222222222222");
        // The spec's example TID: 2023-06-30T15:03:01.887007Z, clock id 6.
        let tid = Tid::parse("3jzfcijpj2z2a").unwrap();
        assert_eq!((tid.time_us(), tid.clock_id()), (1_688_137_381_887_007, 6));
        assert_eq!(tid.unix_secs(), 1_688_137_381);
        assert_eq!(tid.to_string(), "3jzfcijpj2z2a");
        assert_eq!(
            Tid::new(1_725_911_162_329_308, 5).to_string(),
            "3l3qo2vxaaw27"
        );
        let max = Tid::new(u64::MAX, u16::MAX);
        assert_eq!(max.to_string(), "bzzzzzzzzzzzz", "bit 63 stays clear");
        assert_eq!(max.clock_id(), 1023);
        assert_eq!(max.time_us(), (1 << 53) - 1);
    }

    #[test]
    fn refuses_what_is_not_a_tid() {
        for bad in [
            "",
            "p1",
            "222222222222",   // 12
            "22222222222222", // 14
            "k222222222222",  // top bit set
            "1222222222222",  // not in the alphabet
            "222222222222A",  // uppercase
            "self",
        ] {
            assert_eq!(Tid::parse(bad), Err(TidError), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trips_and_sorts(a in 0u64..1 << 53, b in 0u64..1 << 53, ca in 0u16..1024, cb in 0u16..1024) {
            let (ta, tb) = (Tid::new(a, ca), Tid::new(b, cb));
            prop_assert_eq!(Tid::parse(&ta.to_string()), Ok(ta));
            prop_assert_eq!((ta.time_us(), ta.clock_id()), (a, ca));
            prop_assert_eq!(ta.to_string().cmp(&tb.to_string()), (a, ca).cmp(&(b, cb)));
        }
    }
}
