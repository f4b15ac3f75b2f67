//! Verifying the audit log's hash chain (run: `cargo bench --bench audit_chain`).
//!
//! A compliance reviewer's call detail and the auditor's export both verify the whole chain, so
//! its cost per record bounds how large a log one view can check. One iteration verifies 10,000
//! records shaped like real ones (nested objects, escaped strings, 17-digit doubles) and a signed
//! checkpoint at the head: re-canonicalising each record, re-hashing it, linking it to the last.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use voicegate::audit::chain::{Checkpoint, GENESIS, StoredRecord, Verifier, sample_content};

const KEY_ID: &str = "bench";
const KEY: &[u8] = b"benchmark checkpoint key, not a real one";
const RECORDS: u64 = 10_000;

fn chain(c: &mut Criterion) {
    let mut records = Vec::new();
    let mut prev = GENESIS;
    for i in 1..=RECORDS {
        let record = StoredRecord::seal(i, prev, &sample_content(i)).expect("benchmark content is canonicalizable");
        prev = record.hash;
        records.push(record);
    }
    let checkpoint = Checkpoint::sign(RECORDS, &prev, 1_700_000_000_000, KEY_ID, KEY);
    let keys = |id: &str| (id == KEY_ID).then(|| KEY.to_vec());
    c.bench_function("audit chain: verify 10,000 records and a checkpoint", |b| {
        b.iter(|| {
            let mut verifier = Verifier::new();
            for record in &records {
                verifier.push(record).expect("clean chain");
            }
            let verified = verifier
                .finish(std::slice::from_ref(&checkpoint), &keys)
                .expect("clean chain");
            assert_eq!(verified.length, RECORDS);
            black_box(verified)
        })
    });
}

criterion_group!(benches, chain);
criterion_main!(benches);
