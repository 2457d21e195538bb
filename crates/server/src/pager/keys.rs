//! Where the cursor keys come from: the operator's secret
//! (`FEEDMIXER_CURSOR_KEY`, and during a rotation the one before it,
//! `FEEDMIXER_CURSOR_KEY_PREVIOUS`), or else a secret the store keeps, so
//! that cursors survive restarts and cross every replica of one store with
//! no setup at all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use feedmixer_store::{Store, StoreError};

use crate::pager::cursor::{CursorKey, CursorKeys};

/// The store meta key of the generated secret.
pub const STORED_SECRET_KEY: &str = "cursor_secret";

/// Where the signing key came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `FEEDMIXER_CURSOR_KEY`.
    Environment,
    /// The secret an earlier start (of this or another replica) stored.
    Stored,
    /// Made and stored now: the first start on this store.
    Generated,
}

/// The operator's secrets, as the environment gives them.
#[derive(Clone, Default)]
pub struct CursorSecrets {
    pub current: Option<String>,
    pub previous: Option<String>,
}

/// Says which secrets are set, never what they are.
impl std::fmt::Debug for CursorSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("CursorSecrets")
            .field("current", &set(&self.current))
            .field("previous", &set(&self.previous))
            .finish()
    }
}

/// The cursor keys of this process. With an operator's secret, it signs;
/// the previous secret and the stored one (if the store has one: cursors
/// issued before the operator set a secret) are still accepted. Without,
/// the stored secret signs, made now if the store has none; of replicas
/// starting together on one store, all use the one stored first.
pub async fn load(
    store: &dyn Store,
    secrets: &CursorSecrets,
) -> Result<(CursorKeys, KeySource), StoreError> {
    let previous = secrets.previous.as_deref().map(CursorKey::from_secret);
    if let Some(current) = &secrets.current {
        let stored = store
            .get_meta(STORED_SECRET_KEY)
            .await?
            .map(|bytes| CursorKey::from_secret(&String::from_utf8_lossy(&bytes)));
        let accepted = previous.into_iter().chain(stored).collect();
        return Ok((
            CursorKeys::new(CursorKey::from_secret(current), accepted),
            KeySource::Environment,
        ));
    }
    let (secret, source) = match store.get_meta(STORED_SECRET_KEY).await? {
        Some(bytes) => (bytes, KeySource::Stored),
        None => {
            let made = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
            let held = store
                .set_meta_if_absent(STORED_SECRET_KEY, made.as_bytes())
                .await?;
            let source = if held == made.as_bytes() {
                KeySource::Generated
            } else {
                KeySource::Stored
            };
            (held, source)
        }
    };
    let signing = CursorKey::from_secret(&String::from_utf8_lossy(&secret));
    Ok((
        CursorKeys::new(signing, previous.into_iter().collect()),
        source,
    ))
}

#[cfg(test)]
mod tests {
    use feedmixer_store::testkit::open_temp;

    use super::*;
    use crate::pager::cursor::{Cursor, CursorScope, Decoded};

    const SCOPE: CursorScope<'static> = CursorScope {
        feed: "f",
        viewer: None,
    };
    const C: Cursor = Cursor {
        session: 1,
        offset: 2,
    };

    fn reads(text: &str, keys: &CursorKeys) -> Decoded {
        Cursor::decode(text, keys, SCOPE).unwrap()
    }

    #[tokio::test]
    async fn a_generated_key_is_stored_once_and_reused() {
        let (_dir, store) = open_temp();
        let none = CursorSecrets::default();
        let (first, source) = load(&store, &none).await.unwrap();
        assert_eq!(source, KeySource::Generated);
        let (again, source) = load(&store, &none).await.unwrap();
        assert_eq!(source, KeySource::Stored);
        let text = C.encode(&first, SCOPE);
        assert_eq!(reads(&text, &again), Decoded::Valid(C));

        // Setting a secret later: its cursors sign, the stored key's still
        // read; an unrelated key's do not verify.
        let env = CursorSecrets {
            current: Some("operator".into()),
            previous: None,
        };
        let (keys, source) = load(&store, &env).await.unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(reads(&text, &keys), Decoded::Valid(C));
        let other = load(&open_temp().1, &none).await.unwrap().0;
        assert_eq!(reads(&C.encode(&other, SCOPE), &keys), Decoded::UnknownKey);
    }

    #[tokio::test]
    async fn the_previous_secret_reads_during_a_rotation() {
        let (_dir, store) = open_temp();
        let old = CursorSecrets {
            current: Some("old".into()),
            previous: None,
        };
        let text = C.encode(&load(&store, &old).await.unwrap().0, SCOPE);
        let rotating = CursorSecrets {
            current: Some("new".into()),
            previous: Some("old".into()),
        };
        let (keys, _) = load(&store, &rotating).await.unwrap();
        assert_eq!(reads(&text, &keys), Decoded::Valid(C));
        let done = CursorSecrets {
            current: Some("new".into()),
            previous: None,
        };
        let (keys, _) = load(&store, &done).await.unwrap();
        assert_eq!(reads(&text, &keys), Decoded::UnknownKey);
    }
}
