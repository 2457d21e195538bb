//! What verifying a viewer costs a feed request once the issuer's document
//! is cached (the steady state: documents live an hour): token decoding,
//! claim checks, the cache lookup and one ECDSA verification.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use feedmixer_identity::testkit::{Directory, METHOD, SERVICE, TestKey, now, plc_did};
use feedmixer_identity::{DidResolver, Verifier};

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let directory = runtime.block_on(Directory::start());
    let verifier = Verifier::new(
        Arc::new(DidResolver::new(directory.config()).unwrap()),
        SERVICE,
    );
    let mut group = c.benchmark_group("verify_cached");
    for (name, key) in [("es256k", TestKey::k256()), ("es256", TestKey::p256())] {
        let did = plc_did(name);
        directory.put_key(&did, &key.public());
        let token = key.token(&did);
        runtime
            .block_on(verifier.verify(&token, METHOD, now()))
            .expect("valid token");
        group.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter(|| async { verifier.verify(&token, METHOD, now()).await.unwrap() });
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
