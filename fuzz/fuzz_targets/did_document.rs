//! Any bytes a DID directory or did:web host answers parse into a document
//! with a usable key, or are refused; never a panic.
#![no_main]

use feedmixer_atproto::DidDocument;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = DidDocument::parse(data, "did:plc:fuzz") {
        assert_eq!(doc.id(), "did:plc:fuzz");
        let key = doc.signing_key();
        // A key that parsed encodes back to a key that parses the same.
        let again = feedmixer_atproto::PublicKey::from_multikey(&key.to_multibase()).unwrap();
        assert_eq!(again.to_multibase(), key.to_multibase());
    }
});
