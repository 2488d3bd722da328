//! The physical limits the transfer benchmark is compared with: raw SHA-256 and raw
//! AES-256-GCM (aws-lc-rs, the same implementations the relay uses), single-threaded, over
//! 64 KiB buffers like the relay's chunks. Prints one JSON object.
//!
//! `cargo run --release --example raw_throughput -- [MIB]` (default 1024).

use std::time::Instant;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::digest::{Context, SHA256};

const BUFFER: usize = 64 * 1024;

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("size in MiB"))
        .unwrap_or(1024);
    let total = mib * 1024 * 1024;
    let mut buffer = vec![0x5au8; BUFFER];

    let started = Instant::now();
    let mut hash = Context::new(&SHA256);
    let mut done = 0;
    while done < total {
        hash.update(&buffer);
        done += BUFFER;
    }
    std::hint::black_box(hash.finish());
    let sha = total as f64 / started.elapsed().as_secs_f64() / 1e6;

    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    let started = Instant::now();
    let mut done = 0;
    let mut counter: u32 = 0;
    while done < total {
        let mut nonce = [0u8; 12];
        nonce[7..11].copy_from_slice(&counter.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut buffer,
            )
            .unwrap();
        let _ = std::hint::black_box(tag);
        counter += 1;
        done += BUFFER;
    }
    let aes = total as f64 / started.elapsed().as_secs_f64() / 1e6;
    println!("{{\"bytes\": {total}, \"sha256_mb_s\": {sha:.0}, \"aes256gcm_mb_s\": {aes:.0}}}");
}
