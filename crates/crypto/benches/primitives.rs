//! Throughput of the raw aws-lc primitives next to the streaming construction built on them,
//! so that any overhead the construction adds over raw AES-256-GCM is visible.
//!
//! Kept short (10 samples, a few seconds each): the build machine has two cores.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kenshin_crypto::{sealed_len, DataKey, Opener, Sealer, DEFAULT_CHUNK_SIZE};

const CHUNK: usize = 64 * 1024;
const STREAM: usize = 16 * 1024 * 1024;

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect()
}

fn raw_sha256(c: &mut Criterion) {
    let mut group = c.benchmark_group("raw_sha256");
    for len in [CHUNK, STREAM] {
        let input = data(len);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("{} KiB", len / 1024), |b| {
            b.iter(|| digest::digest(&digest::SHA256, black_box(&input)));
        });
    }
    group.finish();
}

fn raw_aes_gcm(c: &mut Criterion) {
    let key = DataKey::generate().unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.expose_secret()).unwrap());
    let mut buffer = data(CHUNK);
    let mut counter = 0u64;
    let mut group = c.benchmark_group("raw_aes_256_gcm");
    group.throughput(Throughput::Bytes(CHUNK as u64));
    group.bench_function("seal_in_place 64 KiB", |b| {
        b.iter(|| {
            counter += 1;
            let mut nonce = [0u8; NONCE_LEN];
            nonce[4..].copy_from_slice(&counter.to_be_bytes());
            key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                black_box(&mut buffer),
            )
            .unwrap()
        });
    });

    // The ceiling for the streaming construction: the same 64 KiB AES-GCM calls over 16 MiB,
    // out of place into a preallocated buffer, with no framing at all.
    let plaintext = data(STREAM);
    let mut ciphertext = vec![0u8; STREAM + STREAM / CHUNK * 16];
    group.throughput(Throughput::Bytes(STREAM as u64));
    group.bench_function("seal out of place 16 MiB in 64 KiB calls", |b| {
        b.iter(|| {
            for (input, output) in black_box(&plaintext)
                .chunks(CHUNK)
                .zip(ciphertext.chunks_mut(CHUNK + 16))
            {
                counter += 1;
                let mut nonce = [0u8; NONCE_LEN];
                nonce[4..].copy_from_slice(&counter.to_be_bytes());
                let (output, tag) = output.split_at_mut(CHUNK);
                key.seal_out_of_place_scatter(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    input,
                    output,
                    &[],
                    tag,
                )
                .unwrap();
            }
        });
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    let key = DataKey::generate().unwrap();
    let plaintext = data(STREAM);
    let mut sealed = Vec::with_capacity(sealed_len(STREAM as u64, DEFAULT_CHUNK_SIZE) as usize);
    let mut sealer = Sealer::start(&key, &mut sealed).unwrap();
    sealer.update(&plaintext, &mut sealed).unwrap();
    sealer.finish(&mut sealed).unwrap();

    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Bytes(STREAM as u64));

    let mut out = Vec::with_capacity(sealed.len());
    group.bench_function("Sealer 16 MiB", |b| {
        b.iter(|| {
            out.clear();
            let mut sealer = Sealer::start(&key, &mut out).unwrap();
            sealer.update(black_box(&plaintext), &mut out).unwrap();
            sealer.finish(&mut out).unwrap();
        });
    });
    group.bench_function("Sealer 16 MiB in 8 KiB updates", |b| {
        b.iter(|| {
            out.clear();
            let mut sealer = Sealer::start(&key, &mut out).unwrap();
            for piece in black_box(&plaintext).chunks(8192) {
                sealer.update(piece, &mut out).unwrap();
            }
            sealer.finish(&mut out).unwrap();
        });
    });
    group.bench_function("Opener 16 MiB", |b| {
        b.iter(|| {
            out.clear();
            let mut opener = Opener::new(&key);
            opener.update(black_box(&sealed), &mut out).unwrap();
            opener.finish(&mut out).unwrap();
        });
    });
    group.bench_function("Opener 16 MiB in 8 KiB updates", |b| {
        b.iter(|| {
            out.clear();
            let mut opener = Opener::new(&key);
            for piece in black_box(&sealed).chunks(8192) {
                opener.update(piece, &mut out).unwrap();
            }
            opener.finish(&mut out).unwrap();
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = raw_sha256, raw_aes_gcm, stream
}
criterion_main!(benches);
