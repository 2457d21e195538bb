//! Any cursor decodes or is refused; a decoded cursor encodes back to itself.
#![no_main]

use feedmixer_server::pager::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cursor) = Cursor::decode(text) {
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
});
