//! Cost of the log's hot paths: appending entries, and producing and checking proofs in a
//! tree of a million entries (built once, in memory).
//!
//! Kept short (10 samples, about two seconds each): the build machine has two cores.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kenshin_ledger::{
    consistency_proof, inclusion_proof, leaf_hash, open_checkpoint, root, sign_checkpoint,
    verify_consistency, verify_inclusion, Checkpoint, Hash, MemoryNodeStore, Signer,
};

const MILLION: u64 = 1_000_000;
const APPEND_BATCH: u64 = 10_000;

fn entry(i: u64) -> [u8; 64] {
    // Roughly the size of a real log entry's digest-bearing record.
    let mut entry = [0u8; 64];
    entry[..8].copy_from_slice(&i.to_be_bytes());
    entry[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    entry
}

fn million_leaf_tree() -> MemoryNodeStore {
    let mut tree = MemoryNodeStore::new();
    for i in 0..MILLION {
        tree.append_entry(&entry(i)).unwrap();
    }
    tree
}

/// Spread the measured positions over the whole tree without a random number generator.
fn scatter(i: u64, modulus: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % modulus
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(APPEND_BATCH));
    group.bench_function("10k entries into MemoryNodeStore", |b| {
        b.iter_batched(
            MemoryNodeStore::new,
            |mut tree| {
                for i in 0..APPEND_BATCH {
                    tree.append_entry(&entry(i)).unwrap();
                }
                tree
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let tree = million_leaf_tree();
    let tree_root = root(MILLION, &tree).unwrap();
    let mut group = c.benchmark_group("1M leaves");

    let mut i = 0u64;
    group.bench_function("inclusion proof", |b| {
        b.iter(|| {
            i += 1;
            inclusion_proof(black_box(scatter(i, MILLION)), MILLION, &tree).unwrap()
        });
    });

    let samples: Vec<(u64, Hash, Vec<Hash>)> = (0..1024)
        .map(|i| {
            let index = scatter(i, MILLION);
            let proof = inclusion_proof(index, MILLION, &tree).unwrap();
            (index, leaf_hash(&entry(index)), proof)
        })
        .collect();
    let mut i = 0usize;
    group.bench_function("verify inclusion", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            let (index, leaf, proof) = &samples[i];
            verify_inclusion(leaf, *index, MILLION, proof, &tree_root).unwrap();
        });
    });

    let mut i = 0u64;
    group.bench_function("consistency proof", |b| {
        b.iter(|| {
            i += 1;
            consistency_proof(black_box(1 + scatter(i, MILLION - 1)), MILLION, &tree).unwrap()
        });
    });

    let samples: Vec<(u64, Hash, Vec<Hash>)> = (0..1024)
        .map(|i| {
            let m = 1 + scatter(i, MILLION - 1);
            let proof = consistency_proof(m, MILLION, &tree).unwrap();
            (m, root(m, &tree).unwrap(), proof)
        })
        .collect();
    let mut i = 0usize;
    group.bench_function("verify consistency", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            let (m, root_m, proof) = &samples[i];
            verify_consistency(*m, MILLION, root_m, &tree_root, proof).unwrap();
        });
    });

    group.bench_function("root", |b| {
        b.iter(|| root(black_box(MILLION), &tree).unwrap());
    });
    group.finish();
}

fn checkpoints(c: &mut Criterion) {
    let signer = Signer::from_seed("kenshin-relay.example/ledger", &[7; 32]).unwrap();
    let verifier = signer.verifier();
    let checkpoint = Checkpoint {
        origin: "kenshin-relay.example/ledger".to_owned(),
        size: MILLION,
        root: [0x5a; 32],
        extensions: Vec::new(),
    };
    let signed = sign_checkpoint(&checkpoint, &signer).unwrap();
    let mut group = c.benchmark_group("checkpoint");
    group.bench_function("sign", |b| {
        b.iter(|| sign_checkpoint(black_box(&checkpoint), &signer).unwrap());
    });
    group.bench_function("open and verify", |b| {
        b.iter(|| {
            open_checkpoint(
                black_box(&signed),
                &verifier,
                "kenshin-relay.example/ledger",
            )
            .unwrap()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = append, proofs, checkpoints
}
criterion_main!(benches);
