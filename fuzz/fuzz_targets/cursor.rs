//! Any cursor decodes or is refused; a decoded cursor encodes back to
//! itself, and one of a key not held is never taken as valid.
#![no_main]

use feedmixer_server::pager::{Cursor, CursorKey, CursorKeys, CursorScope, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = CursorKeys::new(CursorKey::from_secret("fuzz"), Vec::new());
    let scope = CursorScope {
        feed: "f",
        viewer: None,
    };
    if let Ok(Decoded::Valid(cursor)) = Cursor::decode(text, &keys, scope) {
        assert_eq!(
            Cursor::decode(&cursor.encode(&keys, scope), &keys, scope).ok(),
            Some(Decoded::Valid(cursor))
        );
    }
});
