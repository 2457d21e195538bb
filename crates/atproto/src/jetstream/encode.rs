//! [`LikeEvent`] → Jetstream JSON, for writing captures.
//!
//! The event keeps only what the graph needs; the other fields Jetstream
//! sends (`rev`, the commit and subject `cid`s, `createdAt`, the account
//! event's `seq` and `time`) are derived from the event so that encoding is
//! deterministic. They look like the real thing (a TID, a `bafyrei…` CID,
//! RFC 3339 times) but are not: the CIDs hash nothing real.

use serde::Serialize;

use super::{LIKE_COLLECTION, LikeEvent};
use crate::Tid;
use crate::clock::rfc3339;

#[derive(Serialize)]
struct Event<'a> {
    did: &'a str,
    time_us: u64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<Commit<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account<'a>>,
}

#[derive(Serialize)]
struct Commit<'a> {
    rev: String,
    operation: &'static str,
    collection: &'static str,
    rkey: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<LikeRecord<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
}

#[derive(Serialize)]
struct LikeRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "createdAt")]
    created_at: String,
    subject: StrongRef<'a>,
}

#[derive(Serialize)]
struct StrongRef<'a> {
    cid: String,
    uri: &'a str,
}

#[derive(Serialize)]
struct Account<'a> {
    active: bool,
    did: &'a str,
    /// The relay's sequence number, which an event does not keep.
    seq: u64,
    status: &'static str,
    time: String,
}

pub(super) fn encode(event: &LikeEvent) -> String {
    let wire = match event {
        LikeEvent::Create {
            did,
            rkey,
            subject,
            time_us,
        } => Event {
            did,
            time_us: *time_us,
            kind: "commit",
            commit: Some(Commit {
                rev: tid(*time_us),
                operation: "create",
                collection: LIKE_COLLECTION,
                rkey,
                record: Some(LikeRecord {
                    kind: LIKE_COLLECTION,
                    created_at: rfc3339(*time_us),
                    subject: StrongRef {
                        cid: fake_cid(&[subject.as_bytes()]),
                        uri: subject,
                    },
                }),
                cid: Some(fake_cid(&[
                    did.as_bytes(),
                    rkey.as_bytes(),
                    subject.as_bytes(),
                    &time_us.to_be_bytes(),
                ])),
            }),
            account: None,
        },
        LikeEvent::Delete { did, rkey, time_us } => Event {
            did,
            time_us: *time_us,
            kind: "commit",
            commit: Some(Commit {
                rev: tid(*time_us),
                operation: "delete",
                collection: LIKE_COLLECTION,
                rkey,
                record: None,
                cid: None,
            }),
            account: None,
        },
        LikeEvent::AccountDeleted { did, time_us } => Event {
            did,
            time_us: *time_us,
            kind: "account",
            commit: None,
            account: Some(Account {
                active: false,
                did,
                seq: 0,
                status: "deleted",
                time: rfc3339(*time_us),
            }),
        },
    };
    serde_json::to_string(&wire).expect("event structs of strings and integers always serialize")
}

/// Base32 alphabet of multibase `b` CIDs: RFC 4648 lowercase.
const CID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The TID of `time_us` with clock id 0, as repo revisions are.
fn tid(time_us: u64) -> String {
    Tid::new(time_us, 0).to_string()
}

/// A string shaped like a CIDv1 (dag-cbor, sha2-256, base32), derived from
/// `parts` with a non-cryptographic hash.
fn fake_cid(parts: &[&[u8]]) -> String {
    // FNV-1a over the parts, then splitmix64 to spread it over 52 characters.
    let mut state = parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, part| {
        part.iter().chain(&[0xff]).fold(hash, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    });
    let mut cid = String::with_capacity(59);
    cid.push_str("bafyrei");
    for _ in 0..52 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        cid.push(CID_ALPHABET[(z >> 59) as usize] as char);
    }
    cid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_has_jetstream_shape() {
        let event = LikeEvent::Create {
            did: "did:plc:alice".into(),
            rkey: "3l3qo2vutsw2b".into(),
            subject: "at://did:plc:bob/app.bsky.feed.post/3l3qo2vutsw2a".into(),
            time_us: 1_725_911_162_329_308,
        };
        let json: serde_json::Value = serde_json::from_str(&event.to_jetstream_json()).unwrap();
        assert_eq!(json["did"], "did:plc:alice");
        assert_eq!(json["time_us"], 1_725_911_162_329_308_u64);
        assert_eq!(json["kind"], "commit");
        let commit = &json["commit"];
        assert_eq!(commit["operation"], "create");
        assert_eq!(commit["collection"], "app.bsky.feed.like");
        assert_eq!(commit["rkey"], "3l3qo2vutsw2b");
        assert_eq!(commit["rev"].as_str().unwrap().len(), 13);
        assert!(commit["cid"].as_str().unwrap().starts_with("bafyrei"));
        let record = &commit["record"];
        assert_eq!(record["$type"], "app.bsky.feed.like");
        assert_eq!(record["createdAt"], "2024-09-09T19:46:02.329Z");
        assert_eq!(
            record["subject"]["uri"],
            "at://did:plc:bob/app.bsky.feed.post/3l3qo2vutsw2a"
        );
        assert_eq!(record["subject"]["cid"].as_str().unwrap().len(), 59);
    }

    #[test]
    fn delete_and_account_deletion_have_jetstream_shape() {
        let delete = LikeEvent::Delete {
            did: "did:plc:alice".into(),
            rkey: "3l3qo2vutsw2b".into(),
            time_us: 1,
        };
        let json: serde_json::Value = serde_json::from_str(&delete.to_jetstream_json()).unwrap();
        assert_eq!(json["commit"]["operation"], "delete");
        assert!(json["commit"].get("record").is_none());

        let gone = LikeEvent::AccountDeleted {
            did: "did:plc:alice".into(),
            time_us: 1_725_516_666_833_633,
        };
        let json: serde_json::Value = serde_json::from_str(&gone.to_jetstream_json()).unwrap();
        assert_eq!(json["kind"], "account");
        assert_eq!(json["account"]["active"], false);
        assert_eq!(json["account"]["status"], "deleted");
        assert_eq!(json["account"]["did"], "did:plc:alice");
        assert_eq!(json["account"]["time"], "2024-09-05T06:11:06.833Z");
    }

    #[test]
    fn encoding_is_deterministic() {
        let event = LikeEvent::Create {
            did: "did:plc:alice".into(),
            rkey: "a".into(),
            subject: "at://did:plc:bob/app.bsky.feed.post/b".into(),
            time_us: 7,
        };
        assert_eq!(event.to_jetstream_json(), event.clone().to_jetstream_json());
        assert_ne!(
            fake_cid(&[b"ab", b"c"]),
            fake_cid(&[b"a", b"bc"]),
            "parts are delimited"
        );
    }

    #[test]
    fn tids_sort_like_their_times() {
        // The epoch is all zero digits; later times sort after earlier ones.
        assert_eq!(tid(0), "2222222222222");
        assert!(tid(1_725_911_162_329_308) < tid(1_725_911_162_329_309));
        assert_eq!(tid(1_725_911_162_329_308).len(), 13);
    }
}
