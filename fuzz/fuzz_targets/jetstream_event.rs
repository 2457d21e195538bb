//! Any line from the stream decodes or is refused; a decoded event encodes
//! back to a line that decodes to the same event.
#![no_main]

use feedmixer_atproto::RepoEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(event)) = RepoEvent::from_jetstream_json(line) {
        let again = RepoEvent::from_jetstream_json(&event.to_jetstream_json());
        assert_eq!(again, Ok(Some(event)));
    }
});
