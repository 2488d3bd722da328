//! The relay's integration suites that run their relays in this process, in one test binary
//! (one link of the whole workspace instead of one per suite): `cargo test -p kenshin-relay
//! --test tests [FILTER]`, e.g. `--test tests suite::people`. Every suite starts real relays —
//! TLS 1.3, the real database and blob store — through `common`.
//!
//! Suites that need processes or services of their own stay binaries of their own: the
//! browser (`browser.rs`), the schema fuzzer (`api_fuzz.rs`), several nodes (`scale_out.rs`),
//! S3 (`s3_blobs.rs`), the HSM (`hsm.rs`), backups (`backup.rs`), crashes (`crash_recovery.rs`),
//! floods of connections (`abuse.rs`) and the demo (`cli_demo.rs`).

mod common;
mod suite;
