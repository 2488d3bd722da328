//! Writes starting corpora into `fuzz/corpus/<target>/` (git-ignored).
//!
//! `open_sealed` needs them most: libFuzzer cannot forge an AES-GCM tag, so without sealed
//! streams under `OPEN_SEALED_KEY` to mutate it would never reach the chunk-release and
//! success paths. Run from `fuzz/`:
//!
//! ```sh
//! cargo run --release --example make_seeds
//! ```

use std::fs;
use std::path::Path;

use kenshin_crypto::{DataKey, Sealer, DEFAULT_CHUNK_SIZE};
use kenshin_fuzz::{make_open_sealed_input, OPEN_SEALED_KEY};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn seal(key: &DataKey, chunk_size: usize, plaintext: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::new();
    let mut sealer = Sealer::start_with_chunk_size(key, chunk_size, &mut sealed).unwrap();
    sealer.update(plaintext, &mut sealed).unwrap();
    sealer.finish(&mut sealed).unwrap();
    sealed
}

fn main() {
    let key = DataKey::from_slice(&OPEN_SEALED_KEY).unwrap();
    let mut count = 0;
    for chunk_size in [1usize, 2, 7, 16, 64, 300] {
        let lengths = [
            0,
            1,
            chunk_size - 1,
            chunk_size,
            chunk_size + 1,
            2 * chunk_size,
            3 * chunk_size + 5,
        ];
        for len in lengths {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let sealed = seal(&key, chunk_size, &plaintext);
            if sealed.len() > 4000 {
                continue;
            }
            for selector in [0u16, 9, 17, 40, u16::MAX] {
                let name = format!("sealed-c{chunk_size}-p{len}-s{selector}");
                write(
                    "open_sealed",
                    &name,
                    &make_open_sealed_input(selector, &sealed),
                );
                count += 1;
            }
        }
    }
    let sealed = seal(&key, DEFAULT_CHUNK_SIZE, b"health checkup results");
    write(
        "open_sealed",
        "sealed-default",
        &make_open_sealed_input(5, &sealed),
    );
    count += 1;

    for (i, name) in [
        "健診結果_2024年度.csv",
        "results 2024-04.zip",
        "a.b.c",
        "report\u{202E}txt.exe",
        ".hidden",
        "dir/file",
    ]
    .iter()
    .enumerate()
    {
        write("filename", &format!("seed-{i}"), name.as_bytes());
        count += 1;
    }

    for (i, text) in [
        "0190a8c4-7e1f-7c3a-9b2d-3f4e5a6b7c8d",
        "0190A8C47E1F7C3A9B2D3F4E5A6B7C8D",
        "{0190a8c4-7e1f-7c3a-9b2d-3f4e5a6b7c8d}",
        "urn:uuid:0190a8c4-7e1f-7c3a-9b2d-3f4e5a6b7c8d",
        "INST-0001",
        "a_b",
        "06139999",
    ]
    .iter()
    .enumerate()
    {
        write("query_ids", &format!("seed-{i}"), text.as_bytes());
        count += 1;
    }
    println!("wrote {count} seed files under corpus/");
}
