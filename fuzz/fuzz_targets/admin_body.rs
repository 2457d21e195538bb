//! Any admin body (pool update, special posts, personalize) is accepted
//! only when well formed; the first byte picks which body the rest is.
#![no_main]

use feedmixer_atproto::AtUri;
use feedmixer_server::http::routes::personalize::PersonalizeBody;
use feedmixer_server::http::routes::pool::{MAX_POSTS_PER_UPDATE, PoolUpdate};
use feedmixer_server::serve_feed::MAX_LIMIT;
use feedmixer_store::SpecialPosts;
use libfuzzer_sys::fuzz_target;

fn is_post(uri: &str) -> bool {
    AtUri::parse(uri).is_ok_and(|u| u.is_post())
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let Ok(update) = serde_json::from_slice::<PoolUpdate>(json) else {
                return;
            };
            if update.check().is_ok() {
                assert!(update.add.len() + update.remove.len() <= MAX_POSTS_PER_UPDATE);
                assert!(update.add.iter().chain(&update.remove).all(|p| is_post(p)));
            }
        }
        1 => {
            let Ok(posts) = serde_json::from_slice::<SpecialPosts>(json) else {
                return;
            };
            if posts.validate().is_ok() {
                // What is stored reads back as itself, still valid.
                let stored = serde_json::to_vec(&posts).unwrap();
                let again: SpecialPosts = serde_json::from_slice(&stored).unwrap();
                assert_eq!(again, posts);
                assert!(again.validate().is_ok());
            }
        }
        _ => {
            let Ok(body) = serde_json::from_slice::<PersonalizeBody>(json) else {
                return;
            };
            if let Ok((limit, _)) = body.check() {
                assert!((1..=MAX_LIMIT).contains(&limit));
            }
        }
    }
});
