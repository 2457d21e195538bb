//! Jetstream JSON → [`RepoEvent`].
//!
//! The replay decodes millions of lines, so the wire structs borrow from the
//! line (strings are copied only when they carry JSON escapes), skip every
//! field they do not name, and keep the record as raw JSON until the event
//! is known to be a like or post create. Every field is optional at the
//! serde level so that a missing field is reported by name rather than as a
//! serde message. Post records are decoded in `post`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{LIKE_COLLECTION, ParseError, RepoEvent};
use crate::{AtUri, POST_COLLECTION, is_did, is_record_key};

mod post;

/// A string borrowed from the line unless it had to be unescaped.
///
/// serde borrows a `Cow<str>` only when it is the field's whole type, not
/// inside an `Option`, hence the newtype.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    did: Option<Text<'a>>,
    time_us: Option<u64>,
    kind: Option<Kind>,
    #[serde(borrow)]
    commit: Option<Commit<'a>>,
    #[serde(borrow)]
    account: Option<Account<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Commit,
    Identity,
    Account,
}

#[derive(Deserialize)]
struct Commit<'a> {
    #[serde(borrow)]
    rev: Option<Text<'a>>,
    operation: Option<Operation>,
    #[serde(borrow)]
    collection: Option<Text<'a>>,
    #[serde(borrow)]
    rkey: Option<Text<'a>>,
    #[serde(borrow)]
    record: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Operation {
    Create,
    Update,
    Delete,
}

#[derive(Deserialize)]
struct Account<'a> {
    active: Option<bool>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
}

/// The part of an `app.bsky.feed.like` record the graph uses.
#[derive(Deserialize)]
struct LikeRecord<'a> {
    #[serde(borrow)]
    subject: Option<StrongRef<'a>>,
}

#[derive(Deserialize)]
struct StrongRef<'a> {
    #[serde(borrow)]
    uri: Option<Text<'a>>,
}

pub(super) fn decode(line: &str) -> Result<Option<RepoEvent>, ParseError> {
    let event: Event<'_> = serde_json::from_str(line).map_err(ParseError::from_serde)?;
    let did = event.did.ok_or(ParseError::Field("did"))?.0;
    if !is_did(&did) {
        return Err(ParseError::Field("did"));
    }
    let time_us = event.time_us.ok_or(ParseError::Field("time_us"))?;
    match event.kind.ok_or(ParseError::Field("kind"))? {
        Kind::Identity => Ok(None),
        Kind::Account => {
            let account = event.account.ok_or(ParseError::Field("account"))?;
            decode_account(did, time_us, account)
        }
        Kind::Commit => {
            let commit = event.commit.ok_or(ParseError::Field("commit"))?;
            decode_commit(did, time_us, commit)
        }
    }
}

/// A deletion removes the account's records for good; any other status
/// change only hides them (inactive) or shows them again (active), since
/// a deactivated, suspended or taken-down account may come back intact.
fn decode_account(
    did: Cow<'_, str>,
    time_us: u64,
    account: Account<'_>,
) -> Result<Option<RepoEvent>, ParseError> {
    let active = account.active.ok_or(ParseError::Field("account.active"))?;
    let deleted = account.status.is_some_and(|status| status.0 == "deleted");
    let did = did.into_owned();
    Ok(Some(if !active && deleted {
        RepoEvent::AccountDeleted { did, time_us }
    } else {
        RepoEvent::AccountStatus {
            did,
            time_us,
            active,
        }
    }))
}

fn decode_commit(
    did: Cow<'_, str>,
    time_us: u64,
    commit: Commit<'_>,
) -> Result<Option<RepoEvent>, ParseError> {
    commit.rev.ok_or(ParseError::Field("commit.rev"))?;
    let operation = commit
        .operation
        .ok_or(ParseError::Field("commit.operation"))?;
    let collection = commit
        .collection
        .ok_or(ParseError::Field("commit.collection"))?
        .0;
    if collection.is_empty() {
        return Err(ParseError::Field("commit.collection"));
    }
    let rkey = commit.rkey.ok_or(ParseError::Field("commit.rkey"))?.0;
    if !is_record_key(&rkey) {
        return Err(ParseError::Field("commit.rkey"));
    }
    match &*collection {
        LIKE_COLLECTION => decode_like(did, rkey, time_us, operation, commit.record),
        POST_COLLECTION => post::decode_post(did, rkey, time_us, operation, commit.record),
        _ => Ok(None),
    }
}

fn decode_like(
    did: Cow<'_, str>,
    rkey: Cow<'_, str>,
    time_us: u64,
    operation: Operation,
    record: Option<&RawValue>,
) -> Result<Option<RepoEvent>, ParseError> {
    match operation {
        // A like's subject cannot change in a way the graph would follow:
        // clients never update likes, and the record key stays the like.
        Operation::Update => Ok(None),
        Operation::Delete => Ok(Some(RepoEvent::LikeDelete {
            did: did.into_owned(),
            rkey: rkey.into_owned(),
            time_us,
        })),
        Operation::Create => {
            let Some(subject) = like_subject(record)? else {
                return Ok(None);
            };
            Ok(Some(RepoEvent::LikeCreate {
                did: did.into_owned(),
                rkey: rkey.into_owned(),
                subject,
                time_us,
            }))
        }
    }
}

/// The liked post's URI; `None` when the like points at something that is
/// not a post (a feed generator, a list, an unparseable URI).
fn like_subject(record: Option<&RawValue>) -> Result<Option<String>, ParseError> {
    const FIELD: &str = "commit.record.subject.uri";
    let record = record.ok_or(ParseError::Field(FIELD))?;
    let record: LikeRecord<'_> =
        serde_json::from_str(record.get()).map_err(|_| ParseError::Field(FIELD))?;
    let uri = record
        .subject
        .and_then(|subject| subject.uri)
        .ok_or(ParseError::Field(FIELD))?
        .0;
    let is_post = AtUri::parse(&uri).is_ok_and(|uri| uri.is_post());
    Ok(is_post.then(|| uri.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    const POST: &str = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l3qo2vutsw2b";

    fn parse(line: &str) -> Result<Option<RepoEvent>, ParseError> {
        RepoEvent::from_jetstream_json(line)
    }

    fn like_create(subject: &str) -> String {
        format!(
            r#"{{"did":"{ALICE}","time_us":1725911162329308,"kind":"commit","commit":{{"rev":"3l3qo2vuowo2b","operation":"create","collection":"app.bsky.feed.like","rkey":"3l3qo2vutsw2b","record":{{"$type":"app.bsky.feed.like","createdAt":"2024-09-09T19:46:02.102Z","subject":{{"cid":"bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmzj4","uri":"{subject}"}}}},"cid":"bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"}}}}"#
        )
    }

    #[test]
    fn like_create_becomes_create() {
        assert_eq!(
            parse(&like_create(POST)),
            Ok(Some(RepoEvent::LikeCreate {
                did: ALICE.into(),
                rkey: "3l3qo2vutsw2b".into(),
                subject: POST.into(),
                time_us: 1725911162329308,
            }))
        );
    }

    #[test]
    fn like_delete_becomes_delete() {
        let line = format!(
            r#"{{"did":"{ALICE}","time_us":1725911162329309,"kind":"commit","commit":{{"rev":"3l3qo2vuowo2c","operation":"delete","collection":"app.bsky.feed.like","rkey":"3l3qo2vutsw2b"}}}}"#
        );
        assert_eq!(
            parse(&line),
            Ok(Some(RepoEvent::LikeDelete {
                did: ALICE.into(),
                rkey: "3l3qo2vutsw2b".into(),
                time_us: 1725911162329309,
            }))
        );
    }

    #[test]
    fn account_deletion_becomes_account_deleted() {
        let line = format!(
            r#"{{"did":"{ALICE}","time_us":1725516666833633,"kind":"account","account":{{"active":false,"did":"{ALICE}","seq":1409753013,"status":"deleted","time":"2024-09-05T06:11:04.870Z"}}}}"#
        );
        assert_eq!(
            parse(&line),
            Ok(Some(RepoEvent::AccountDeleted {
                did: ALICE.into(),
                time_us: 1725516666833633,
            }))
        );
    }

    #[test]
    fn other_account_events_become_status_changes() {
        for (account, active) in [
            (
                r#"{"active":true,"seq":1,"time":"2024-09-05T06:11:04.870Z"}"#,
                true,
            ),
            (
                r#"{"active":false,"seq":1,"status":"deactivated","time":"2024-09-05T06:11:04.870Z"}"#,
                false,
            ),
            (
                r#"{"active":false,"seq":1,"status":"takendown","time":"2024-09-05T06:11:04.870Z"}"#,
                false,
            ),
            (
                r#"{"active":false,"seq":1,"status":"suspended","time":"2024-09-05T06:11:04.870Z"}"#,
                false,
            ),
            // A status this code does not know still means inactive.
            (
                r#"{"active":false,"seq":1,"status":"throttled","time":"2024-09-05T06:11:04.870Z"}"#,
                false,
            ),
            (r#"{"active":false,"seq":1}"#, false),
            // Active accounts carry no status; a stray one does not delete.
            (
                r#"{"active":true,"seq":1,"status":"deleted","time":"2024-09-05T06:11:04.870Z"}"#,
                true,
            ),
        ] {
            let line = format!(
                r#"{{"did":"{ALICE}","time_us":1725516666833633,"kind":"account","account":{account}}}"#
            );
            assert_eq!(
                parse(&line),
                Ok(Some(RepoEvent::AccountStatus {
                    did: ALICE.into(),
                    time_us: 1725516666833633,
                    active,
                })),
                "{account}"
            );
        }
    }

    #[test]
    fn identity_events_are_ignored() {
        let line = format!(
            r#"{{"did":"{ALICE}","time_us":1725516665234703,"kind":"identity","identity":{{"did":"{ALICE}","handle":"alice.bsky.social","seq":1409752997,"time":"2024-09-05T06:11:04.870Z"}}}}"#
        );
        assert_eq!(parse(&line), Ok(None));
    }

    #[test]
    fn other_collections_are_ignored_without_decoding_their_record() {
        // A follow's `subject` is a DID string, not a strong ref: decoding
        // it as a like record would fail.
        let follow = format!(
            r#"{{"did":"{ALICE}","time_us":1725911162329308,"kind":"commit","commit":{{"rev":"3l3qo2vuowo2b","operation":"create","collection":"app.bsky.graph.follow","rkey":"3l3qo2vutsw2b","record":{{"$type":"app.bsky.graph.follow","createdAt":"2024-09-09T19:46:02.102Z","subject":"did:plc:z72i7hdynmk6r22z27h6tvur"}},"cid":"bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"}}}}"#
        );
        assert_eq!(parse(&follow), Ok(None));
        // A profile's `description` is free text, with escapes.
        let profile = format!(
            r#"{{"did":"{ALICE}","time_us":1725911162329308,"kind":"commit","commit":{{"rev":"3l3qo2vuowo2b","operation":"update","collection":"app.bsky.actor.profile","rkey":"self","record":{{"$type":"app.bsky.actor.profile","displayName":"Alice","description":"hello \"world\" \u00e9","labels":7}},"cid":"bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"}}}}"#
        );
        assert_eq!(parse(&profile), Ok(None));
    }

    #[test]
    fn like_updates_are_ignored() {
        let line = like_create(POST).replace(r#""operation":"create""#, r#""operation":"update""#);
        assert_eq!(parse(&line), Ok(None));
    }

    #[test]
    fn likes_of_non_posts_are_ignored() {
        for subject in [
            "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot",
            "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.graph.list/3l3qo2vutsw2b",
            "at://bsky.app/app.bsky.feed.post/3l3qo2vutsw2b",
            "https://bsky.app/profile/bsky.app/post/3l3qo2vutsw2b",
            "",
        ] {
            assert_eq!(parse(&like_create(subject)), Ok(None), "{subject}");
        }
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let line = like_create(POST).replace("app.bsky.feed.post/", r"app.bsky.feed.post\/");
        let Ok(Some(RepoEvent::LikeCreate { subject, .. })) = parse(&line) else {
            panic!("escaped URI should decode");
        };
        assert_eq!(subject, POST);
    }

    #[test]
    fn not_json_is_a_json_error() {
        for line in ["", "not json", "{\"did\":", &like_create(POST)[..80]] {
            assert!(
                matches!(parse(line), Err(ParseError::Json(_))),
                "{line:?}: {:?}",
                parse(line)
            );
        }
    }

    #[test]
    fn wrong_types_are_shape_errors() {
        for line in [
            "[]",
            "42",
            r#"{"did":42}"#,
            r#"{"did":"did:plc:abc","time_us":"1725911162329308","kind":"commit"}"#,
            r#"{"did":"did:plc:abc","time_us":-1,"kind":"commit"}"#,
            r#"{"did":"did:plc:abc","time_us":1,"kind":"gossip"}"#,
            r#"{"did":"did:plc:abc","time_us":1,"kind":"commit","commit":"yes"}"#,
            r#"{"did":"did:plc:abc","time_us":1,"kind":"account","account":{"active":"no"}}"#,
        ] {
            assert!(
                matches!(parse(line), Err(ParseError::Shape(_))),
                "{line}: {:?}",
                parse(line)
            );
        }
        let line = like_create(POST).replace(r#""operation":"create""#, r#""operation":"upsert""#);
        assert!(matches!(parse(&line), Err(ParseError::Shape(_))));
    }

    #[test]
    fn missing_or_invalid_fields_are_named() {
        let cases: &[(&str, &str)] = &[
            (r#"{"time_us":1,"kind":"identity"}"#, "did"),
            (
                r#"{"did":"alice.bsky.social","time_us":1,"kind":"identity"}"#,
                "did",
            ),
            (
                r#"{"did":"did:PLC:abc","time_us":1,"kind":"identity"}"#,
                "did",
            ),
            (r#"{"did":"did:plc:abc","kind":"identity"}"#, "time_us"),
            (r#"{"did":"did:plc:abc","time_us":1}"#, "kind"),
            (
                r#"{"did":"did:plc:abc","time_us":1,"kind":"commit"}"#,
                "commit",
            ),
            (
                r#"{"did":"did:plc:abc","time_us":1,"kind":"commit","commit":null}"#,
                "commit",
            ),
            (
                r#"{"did":"did:plc:abc","time_us":1,"kind":"account"}"#,
                "account",
            ),
            (
                r#"{"did":"did:plc:abc","time_us":1,"kind":"account","account":{"status":"deleted"}}"#,
                "account.active",
            ),
        ];
        for (line, field) in cases {
            assert_eq!(parse(line), Err(ParseError::Field(field)), "{line}");
        }
    }

    #[test]
    fn malformed_commits_are_named() {
        let cases = [
            (r#""rev":"3l3qo2vuowo2b","#, "", "commit.rev"),
            (r#""operation":"create","#, "", "commit.operation"),
            (
                r#""collection":"app.bsky.feed.like","#,
                "",
                "commit.collection",
            ),
            (
                r#""collection":"app.bsky.feed.like","#,
                r#""collection":"","#,
                "commit.collection",
            ),
            (r#""rkey":"3l3qo2vutsw2b","#, "", "commit.rkey"),
            (r#""rkey":"3l3qo2vutsw2b","#, r#""rkey":"","#, "commit.rkey"),
            (
                r#""rkey":"3l3qo2vutsw2b","#,
                r#""rkey":"..","#,
                "commit.rkey",
            ),
            (
                r#""rkey":"3l3qo2vutsw2b","#,
                r#""rkey":"a/b","#,
                "commit.rkey",
            ),
        ];
        for (from, to, field) in cases {
            let line = like_create(POST).replace(from, to);
            assert_eq!(parse(&line), Err(ParseError::Field(field)), "{line}");
        }
    }

    #[test]
    fn like_create_needs_a_subject_uri() {
        let uri = format!(r#","uri":"{POST}""#);
        let without_record = format!(
            r#"{{"did":"{ALICE}","time_us":1,"kind":"commit","commit":{{"rev":"3l3qo2vuowo2b","operation":"create","collection":"app.bsky.feed.like","rkey":"3l3qo2vutsw2b"}}}}"#
        );
        for line in [
            without_record,
            like_create(POST).replace(&uri, ""),
            like_create(POST).replace(&uri, r#","uri":7"#),
            like_create(POST).replace(r#""subject":{"#, r#""subjekt":{"#),
            like_create(POST).replace(r#""record":{"#, r#""record":null,"x":{"#),
        ] {
            assert_eq!(
                parse(&line),
                Err(ParseError::Field("commit.record.subject.uri")),
                "{line}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let line = like_create(POST).replace(
            r#""kind":"commit","#,
            r#""kind":"commit","extra":{"nested":[1,2,{"a":null}]},"#,
        );
        assert!(matches!(
            parse(&line),
            Ok(Some(RepoEvent::LikeCreate { .. }))
        ));
    }

    #[test]
    fn plain_strings_are_borrowed_not_copied() {
        let event: Event<'_> = serde_json::from_str(r#"{"did":"did:plc:abc"}"#).unwrap();
        assert!(matches!(event.did.unwrap().0, Cow::Borrowed(_)));
    }
}
