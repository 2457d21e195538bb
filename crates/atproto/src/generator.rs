//! `app.bsky.feed.generator` records: how a feed is announced in its
//! publisher's repository (`at://PUBLISHER/app.bsky.feed.generator/RKEY`),
//! with the lexicon's limits, and the blob of the avatar such a record may
//! carry. Shapes and checks only; writing them is the binary's.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_segmentation::UnicodeSegmentation;

use crate::is_did;

/// Collection NSID of feed generator records (also their `$type`).
pub const GENERATOR_COLLECTION: &str = "app.bsky.feed.generator";

/// `displayName`: at most this many graphemes...
pub const DISPLAY_NAME_MAX_GRAPHEMES: usize = 24;
/// ... and bytes.
pub const DISPLAY_NAME_MAX_BYTES: usize = 240;
/// `description`: at most this many graphemes...
pub const DESCRIPTION_MAX_GRAPHEMES: usize = 300;
/// ... and bytes.
pub const DESCRIPTION_MAX_BYTES: usize = 3_000;
/// `avatar`: a PNG or JPEG of at most this many bytes.
pub const AVATAR_MAX_BYTES: u64 = 1_000_000;

/// A feed generator record. Serializes as the lexicon's JSON, `$type`
/// first; `description` is left out when empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorRecord {
    /// The feed generator's service DID.
    pub did: String,
    pub display_name: String,
    pub description: String,
    pub avatar: Option<Blob>,
    /// Whether the Bluesky app sends the feed sendInteractions.
    pub accepts_interactions: bool,
    /// RFC 3339; kept from the published record when it is rewritten.
    pub created_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordWire<'a> {
    #[serde(rename = "$type")]
    record_type: &'static str,
    did: &'a str,
    display_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar: Option<&'a Blob>,
    accepts_interactions: bool,
    created_at: &'a str,
}

impl Serialize for GeneratorRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RecordWire {
            record_type: GENERATOR_COLLECTION,
            did: &self.did,
            display_name: &self.display_name,
            description: &self.description,
            avatar: self.avatar.as_ref(),
            accepts_interactions: self.accepts_interactions,
            created_at: &self.created_at,
        }
        .serialize(serializer)
    }
}

/// What makes a record one the lexicon refuses. Each names its field as
/// the record spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("did: {0:?} is not a DID")]
    Did(String),
    #[error("{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("{field}: {found} graphemes, more than {max}")]
    Graphemes {
        field: &'static str,
        found: usize,
        max: usize,
    },
    #[error("{field}: {found} bytes, more than {max}")]
    Bytes {
        field: &'static str,
        found: usize,
        max: usize,
    },
}

impl GeneratorRecord {
    /// Every limit the lexicon sets on what this record holds (`createdAt`
    /// is the writer's; the avatar's limits are [`check_avatar`]'s).
    pub fn check(&self) -> Result<(), Vec<RecordError>> {
        let mut errors = Vec::new();
        if !is_did(&self.did) {
            errors.push(RecordError::Did(self.did.clone()));
        }
        if self.display_name.trim().is_empty() {
            errors.push(RecordError::Empty {
                field: "displayName",
            });
        }
        check_text(
            &mut errors,
            "displayName",
            &self.display_name,
            DISPLAY_NAME_MAX_GRAPHEMES,
            DISPLAY_NAME_MAX_BYTES,
        );
        check_text(
            &mut errors,
            "description",
            &self.description,
            DESCRIPTION_MAX_GRAPHEMES,
            DESCRIPTION_MAX_BYTES,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Graphemes are user-perceived characters (extended grapheme clusters):
/// `é` written as `e` and a combining accent is one, as is a flag emoji.
fn check_text(
    errors: &mut Vec<RecordError>,
    field: &'static str,
    text: &str,
    max_graphemes: usize,
    max_bytes: usize,
) {
    let graphemes = text.graphemes(true).count();
    if graphemes > max_graphemes {
        errors.push(RecordError::Graphemes {
            field,
            found: graphemes,
            max: max_graphemes,
        });
    }
    if text.len() > max_bytes {
        errors.push(RecordError::Bytes {
            field,
            found: text.len(),
            max: max_bytes,
        });
    }
}

/// A blob as records reference it: `{"$type": "blob", "ref": {"$link":
/// CID}, "mimeType", "size"}`, the shape `com.atproto.repo.uploadBlob`
/// answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub cid: String,
    pub mime_type: String,
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlobWire {
    #[serde(rename = "$type")]
    blob_type: String,
    #[serde(rename = "ref")]
    link: Link,
    mime_type: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
struct Link {
    #[serde(rename = "$link")]
    link: String,
}

const BLOB_TYPE: &str = "blob";

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BlobWire {
            blob_type: BLOB_TYPE.to_owned(),
            link: Link {
                link: self.cid.clone(),
            },
            mime_type: self.mime_type.clone(),
            size: self.size,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Blob {
    /// Only the typed form (`$type: "blob"`); the legacy `{cid, mimeType}`
    /// is refused.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = BlobWire::deserialize(deserializer)?;
        if wire.blob_type != BLOB_TYPE {
            return Err(serde::de::Error::custom(format!(
                "blob $type is {:?}, not \"blob\"",
                wire.blob_type
            )));
        }
        if wire.link.link.is_empty() {
            return Err(serde::de::Error::custom("blob ref has an empty $link"));
        }
        Ok(Blob {
            cid: wire.link.link,
            mime_type: wire.mime_type,
            size: wire.size,
        })
    }
}

impl Blob {
    /// The blob `bytes` of type `mime_type` would be once uploaded: a PDS
    /// names a blob by its CID (v1, raw codec, SHA-256), computed here
    /// the same way.
    pub fn of(bytes: &[u8], mime_type: &str) -> Blob {
        Blob {
            cid: raw_cid(bytes),
            mime_type: mime_type.to_owned(),
            size: bytes.len() as u64,
        }
    }
}

/// The CIDv1 of `bytes` as a raw block: multibase `b` (base32, lower case,
/// no padding) of version 1, codec raw (0x55), multihash SHA-256 (0x12,
/// 32 bytes).
pub fn raw_cid(bytes: &[u8]) -> String {
    let mut cid = vec![0x01, 0x55, 0x12, 0x20];
    cid.extend_from_slice(&Sha256::digest(bytes));
    format!("b{}", base32_lower(&cid))
}

/// RFC 4648 base32, lower case, without padding.
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Why an image cannot be a generator's avatar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    #[error("{0} bytes, more than {AVATAR_MAX_BYTES}")]
    TooBig(u64),
    #[error("not a PNG or JPEG image")]
    NotAnImage,
}

/// The MIME type of an avatar of `size` bytes starting with `head` (its
/// first 8 bytes suffice), told by its magic bytes, not its file name.
pub fn check_avatar(size: u64, head: &[u8]) -> Result<&'static str, AvatarError> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const JPEG: &[u8] = b"\xff\xd8\xff";
    if size > AVATAR_MAX_BYTES {
        return Err(AvatarError::TooBig(size));
    }
    if head.starts_with(PNG) {
        Ok("image/png")
    } else if head.starts_with(JPEG) {
        Ok("image/jpeg")
    } else {
        Err(AvatarError::NotAnImage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> GeneratorRecord {
        GeneratorRecord {
            did: "did:web:feeds.example.com".into(),
            display_name: "For You".into(),
            description: "Posts liked by people who like what you like.".into(),
            avatar: None,
            accepts_interactions: true,
            created_at: "2025-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn serializes_as_the_lexicon_spells_it() {
        let mut r = record();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"$type":"app.bsky.feed.generator","did":"did:web:feeds.example.com","displayName":"For You","description":"Posts liked by people who like what you like.","acceptsInteractions":true,"createdAt":"2025-01-01T00:00:00.000Z"}"#
        );
        r.description.clear();
        r.accepts_interactions = false;
        r.avatar = Some(Blob {
            cid: "bafkreiabc".into(),
            mime_type: "image/png".into(),
            size: 42,
        });
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({
                "$type": "app.bsky.feed.generator",
                "did": "did:web:feeds.example.com",
                "displayName": "For You",
                "avatar": {"$type": "blob", "ref": {"$link": "bafkreiabc"}, "mimeType": "image/png", "size": 42},
                "acceptsInteractions": false,
                "createdAt": "2025-01-01T00:00:00.000Z",
            })
        );
    }

    #[test]
    fn limits_count_graphemes_and_bytes() {
        assert_eq!(record().check(), Ok(()));
        let with = |name: &str, description: &str| GeneratorRecord {
            display_name: name.into(),
            description: description.into(),
            ..record()
        };
        // 24 graphemes, each an `e` and a combining acute accent (48 chars).
        assert_eq!(with(&"e\u{301}".repeat(24), "").check(), Ok(()));
        // A flag is one grapheme of two code points (8 bytes).
        assert_eq!(with(&"🇳🇴".repeat(24), "").check(), Ok(()));
        assert_eq!(
            with(&"x".repeat(25), "").check(),
            Err(vec![RecordError::Graphemes {
                field: "displayName",
                found: 25,
                max: 24
            }])
        );
        // 24 graphemes of 25 bytes each (four emoji joined by three
        // zero-width joiners): 600 bytes.
        let family = "👩\u{200d}👩\u{200d}👧\u{200d}👦";
        assert_eq!(family.graphemes(true).count(), 1);
        assert_eq!(
            with(&family.repeat(24), "").check(),
            Err(vec![RecordError::Bytes {
                field: "displayName",
                found: 24 * 25,
                max: 240
            }])
        );
        assert_eq!(with("ok", &"d".repeat(300)).check(), Ok(()));
        let errors = with("", &"d".repeat(301)).check().unwrap_err();
        assert_eq!(
            errors,
            vec![
                RecordError::Empty {
                    field: "displayName"
                },
                RecordError::Graphemes {
                    field: "description",
                    found: 301,
                    max: 300
                }
            ]
        );
        assert_eq!(
            errors[1].to_string(),
            "description: 301 graphemes, more than 300"
        );
        let bad_did = GeneratorRecord {
            did: "feeds.example.com".into(),
            ..record()
        };
        assert!(matches!(
            &bad_did.check().unwrap_err()[..],
            [RecordError::Did(_)]
        ));
    }

    #[test]
    fn blob_cids_are_those_a_pds_computes() {
        // Well-known CIDv1 raw SHA-256 of "" and of "hello world".
        assert_eq!(
            raw_cid(b""),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            raw_cid(b"hello world"),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
        let blob = Blob::of(b"hello world", "image/png");
        assert_eq!(blob.size, 11);
        assert_eq!(blob.mime_type, "image/png");
    }

    #[test]
    fn blobs_read_back_as_written() {
        let blob = Blob::of(b"x", "image/jpeg");
        let json = serde_json::to_value(&blob).unwrap();
        assert_eq!(json["$type"], "blob");
        assert_eq!(json["ref"]["$link"], blob.cid.as_str());
        assert_eq!(serde_json::from_value::<Blob>(json).unwrap(), blob);
        for bad in [
            json!({"$type": "image", "ref": {"$link": "bafk"}, "mimeType": "image/png", "size": 1}),
            json!({"$type": "blob", "ref": {"$link": ""}, "mimeType": "image/png", "size": 1}),
            json!({"cid": "bafk", "mimeType": "image/png"}),
            json!({"$type": "blob", "ref": "bafk", "mimeType": "image/png", "size": 1}),
        ] {
            assert!(
                serde_json::from_value::<Blob>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn avatars_are_told_by_their_magic_bytes() {
        assert_eq!(check_avatar(100, b"\x89PNG\r\n\x1a\n\0\0"), Ok("image/png"));
        assert_eq!(
            check_avatar(100, b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Ok("image/jpeg")
        );
        assert_eq!(
            check_avatar(AVATAR_MAX_BYTES, b"\xff\xd8\xff\xe0"),
            Ok("image/jpeg")
        );
        assert_eq!(
            check_avatar(AVATAR_MAX_BYTES + 1, b"\x89PNG\r\n\x1a\n"),
            Err(AvatarError::TooBig(AVATAR_MAX_BYTES + 1))
        );
        for bad in [
            &b""[..],
            b"\x89PNG",
            b"GIF89a",
            b"<svg xmlns",
            b"RIFF\0\0\0\0WEBP",
        ] {
            assert_eq!(check_avatar(10, bad), Err(AvatarError::NotAnImage));
        }
    }
}
