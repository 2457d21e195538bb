//! What viewers did with the posts feeds showed them, kept per viewer so
//! flows can filter what was seen and act on "show less / more".
//!
//! Every backend keeps the same bounded history: at most one entry per
//! `(item, event)` (a repeat moves its time), at most
//! [`InteractionLimits::max_per_viewer`] entries per viewer (the newest),
//! none older than [`InteractionLimits::ttl_us`]. The codec below is shared
//! by backends that keep a viewer's history as one value.

use feedmixer_atproto::InteractionEvent;

use crate::StoreError;

/// One thing a viewer did with a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// AT-URI of the post.
    pub item: String,
    pub event: InteractionEvent,
    /// When the service received it, microseconds since the epoch.
    pub time_us: u64,
}

/// How much history is kept per viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteractionLimits {
    pub max_per_viewer: usize,
    /// Entries older than this are dropped.
    pub ttl_us: u64,
}

impl Default for InteractionLimits {
    fn default() -> Self {
        InteractionLimits {
            max_per_viewer: 2_000,
            ttl_us: 7 * 86_400 * 1_000_000,
        }
    }
}

/// `history` with `new` merged in and the limits applied, newest first.
pub(crate) fn merge(
    mut history: Vec<Interaction>,
    new: &[Interaction],
    limits: InteractionLimits,
    now_us: u64,
) -> Vec<Interaction> {
    history.extend_from_slice(new);
    // Newest first, then keep the first of each (item, event).
    history.sort_by_key(|i| std::cmp::Reverse(i.time_us));
    let mut seen = std::collections::HashSet::with_capacity(history.len());
    let cutoff = now_us.saturating_sub(limits.ttl_us);
    history.retain(|i| i.time_us >= cutoff && seen.insert((i.item.clone(), i.event)));
    history.truncate(limits.max_per_viewer);
    history
}

/// Bytes per entry besides the URI: time (8), event (1), URI length (2).
const ENTRY_HEADER: usize = 11;

pub(crate) fn encode(history: &[Interaction]) -> Vec<u8> {
    let size = history.iter().map(|i| ENTRY_HEADER + i.item.len()).sum();
    let mut out = Vec::with_capacity(size);
    for i in history {
        out.extend_from_slice(&i.time_us.to_le_bytes());
        out.push(i.event.code());
        out.extend_from_slice(&(i.item.len() as u16).to_le_bytes());
        out.extend_from_slice(i.item.as_bytes());
    }
    out
}

pub(crate) fn decode(mut bytes: &[u8]) -> Result<Vec<Interaction>, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("interaction history: {what}"));
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < ENTRY_HEADER {
            return Err(corrupt("truncated entry"));
        }
        let time_us = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let event =
            InteractionEvent::from_code(bytes[8]).ok_or_else(|| corrupt("unknown event"))?;
        let len = usize::from(u16::from_le_bytes([bytes[9], bytes[10]]));
        let rest = &bytes[ENTRY_HEADER..];
        if rest.len() < len {
            return Err(corrupt("truncated URI"));
        }
        let item = std::str::from_utf8(&rest[..len])
            .map_err(|_| corrupt("URI is not UTF-8"))?
            .to_owned();
        out.push(Interaction {
            item,
            event,
            time_us,
        });
        bytes = &rest[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seen(item: &str, time_us: u64) -> Interaction {
        Interaction {
            item: item.into(),
            event: InteractionEvent::Seen,
            time_us,
        }
    }

    #[test]
    fn merge_dedups_bounds_and_expires() {
        let limits = InteractionLimits {
            max_per_viewer: 3,
            ttl_us: 100,
        };
        let history = vec![seen("a", 10), seen("b", 150), seen("c", 160)];
        let merged = merge(history, &[seen("b", 170), seen("d", 180)], limits, 200);
        // "a" expired (older than 200 - 100), "b" moved to 170.
        assert_eq!(merged, vec![seen("d", 180), seen("b", 170), seen("c", 160)]);
        let merged = merge(merged, &[seen("e", 190)], limits, 200);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0], seen("e", 190));
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let good = encode(&[seen("at://x", 1)]);
        for bad in [&good[..5], &good[..good.len() - 1]] {
            assert!(decode(bad).is_err());
        }
        let mut unknown = good.clone();
        unknown[8] = 200;
        assert!(decode(&unknown).is_err());
    }

    proptest! {
        #[test]
        fn histories_round_trip(entries in proptest::collection::vec((".{1,40}", 1u8..=12, any::<u64>()), 0..20)) {
            let history: Vec<Interaction> = entries
                .into_iter()
                .map(|(item, code, time_us)| Interaction {
                    item,
                    event: InteractionEvent::from_code(code).unwrap(),
                    time_us,
                })
                .collect();
            prop_assert_eq!(decode(&encode(&history)).unwrap(), history);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
