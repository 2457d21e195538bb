//! Any cursor decodes or is refused; a decoded cursor encodes back to itself.
#![no_main]

use feedmixer_server::pager::{Cursor, CursorKey, CursorScope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = CursorKey::from_secret("fuzz");
    let scope = CursorScope { feed: "f", viewer: None };
    if let Ok(cursor) = Cursor::decode(text, &key, scope) {
        assert_eq!(Cursor::decode(&cursor.encode(&key, scope), &key, scope).ok(), Some(cursor));
    }
});
