//! Any sendInteractions body is kept whole or refused whole: what is kept
//! names posts by AT-URI, and every interaction is either kept or counted
//! as unknown.
#![no_main]

use feedmixer_atproto::AtUri;
use feedmixer_server::http::routes::interactions::{MAX_PER_CALL, SendInteractions, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<SendInteractions>(data) else {
        return;
    };
    if let Ok((kept, unknown)) = parse(&body, 1) {
        assert!(body.interactions.len() <= MAX_PER_CALL);
        assert_eq!(kept.len() + unknown, body.interactions.len());
        assert!(kept.iter().all(|i| AtUri::parse(&i.item).is_ok()));
    }
});
