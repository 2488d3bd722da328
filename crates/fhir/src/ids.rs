//! Deterministic `urn:uuid:` names for the resources of a bundle.
//!
//! The workspace has no hashing crate this crate may depend on, so the names come from a
//! 128-bit FNV-1a hash followed by a bijective avalanche step (MurmurHash3's 64-bit
//! finaliser over both halves), formatted as an RFC 9562 version 8 ("custom") UUID.
//!
//! The hash of a record is taken once over a domain label, the profile, the institution, the
//! batch id, the document number and the record's canonical JSON (its header is a sorted map,
//! its values are in record order); each resource's UUID hashes that digest with the
//! resource's role in the bundle (`"Patient"`, `"Observation/<item code>"`). Equal inputs give
//! equal UUIDs on every platform; any difference in the record gives different ones.
//!
//! This is not a cryptographic hash: the UUIDs are stable names, not secrets, and nothing
//! relies on them being hard to forge (as with name-based UUIDs v3/v5, whoever knows a
//! record can recompute them).

use std::io;

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// FNV-1a, 128 bits, fed through [`io::Write`] so that `serde_json` can stream into it.
pub(crate) struct Hasher(u128);

impl Hasher {
    pub(crate) fn new() -> Hasher {
        Hasher(FNV_OFFSET)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// A field and its end, so that `("ab", "c")` and `("a", "bc")` hash differently.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.update(&(bytes.len() as u64).to_le_bytes());
        self.update(bytes);
    }

    pub(crate) fn finish(&self) -> u128 {
        avalanche(self.0)
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Spreads every input bit over the whole output; invertible, so no distinct hashes merge.
fn avalanche(h: u128) -> u128 {
    let hi = (h >> 64) as u64;
    let lo = h as u64;
    let lo = fmix64(lo ^ hi.rotate_left(32));
    let hi = fmix64(hi ^ lo);
    (u128::from(hi) << 64) | u128::from(lo)
}

/// The UUID of the resource playing `role` in the bundle of the record hashed to `digest`.
pub(crate) fn resource_uuid(digest: u128, role: &str) -> String {
    let mut h = Hasher::new();
    h.update(&digest.to_le_bytes());
    h.field(role.as_bytes());
    format_uuid_v8(h.finish())
}

/// `urn:uuid:` form of [`resource_uuid`].
pub(crate) fn resource_urn(digest: u128, role: &str) -> String {
    format!("urn:uuid:{}", resource_uuid(digest, role))
}

/// RFC 9562 layout: version 8 in the high nibble of byte 6, variant `10` in byte 8.
pub(crate) fn format_uuid_v8(value: u128) -> String {
    let mut b = value.to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_128_matches_the_reference_values() {
        // FNV-1a 128 of "" is the offset basis; of "a" the published test vector.
        assert_eq!(Hasher::new().0, FNV_OFFSET);
        let mut h = Hasher::new();
        h.update(b"a");
        assert_eq!(h.0, 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }

    #[test]
    fn uuids_have_version_8_and_the_rfc_variant() {
        for seed in 0..64u128 {
            let id = format_uuid_v8(avalanche(seed));
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "8", "{id}");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        }
    }

    #[test]
    fn roles_and_digests_give_distinct_uuids() {
        let mut seen = std::collections::HashSet::new();
        for digest in 0..50u128 {
            for role in ["Composition", "Patient", "Observation/9N001000000000001"] {
                assert!(seen.insert(resource_uuid(digest, role)));
            }
        }
        assert_eq!(resource_uuid(7, "Patient"), resource_uuid(7, "Patient"));
    }

    #[test]
    fn fields_are_delimited() {
        let mut a = Hasher::new();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Hasher::new();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}
