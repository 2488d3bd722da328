//! Any content, written in any pieces, opens to itself with the matching identity, and the
//! writer's size and SHA-256 are the content's; a file cut short or altered never opens.

use std::io::{Read, Write};

use kenshin_seal::{open, Identities, Recipients};
use proptest::prelude::*;

#[allow(deprecated)]
fn pair() -> (String, Identities) {
    let identity = age::x25519::Identity::generate();
    let secret = age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned();
    (
        identity.to_public().to_string(),
        Identities::from_reader(secret.as_bytes()).unwrap(),
    )
}

fn sha_hex(bytes: &[u8]) -> String {
    let mut sha = kenshin_crypto::Sha256::new();
    sha.update(bytes);
    sha.finish_hex()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn content_round_trips_in_any_pieces(
        content in proptest::collection::vec(any::<u8>(), 0..200_000),
        cuts in proptest::collection::vec(1usize..70_000, 0..6),
    ) {
        let (recipient, identities) = pair();
        let mut writer = Recipients::parse(&[recipient]).unwrap().seal(Vec::new()).unwrap();
        let mut rest = &content[..];
        for cut in cuts {
            let n = cut.min(rest.len());
            writer.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        writer.write_all(rest).unwrap();
        let (sealed, told) = writer.finish().unwrap();
        prop_assert_eq!(told.size, content.len() as u64);
        prop_assert_eq!(told.sha256, sha_hex(&content));
        let mut opened = Vec::new();
        open(&identities, &sealed[..]).unwrap().read_to_end(&mut opened).unwrap();
        prop_assert_eq!(opened, content);
    }

    #[test]
    fn a_cut_or_altered_file_never_opens_to_other_content(
        content in proptest::collection::vec(any::<u8>(), 1..100_000),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let (recipient, identities) = pair();
        let mut writer = Recipients::parse(&[recipient]).unwrap().seal(Vec::new()).unwrap();
        writer.write_all(&content).unwrap();
        let (mut sealed, _) = writer.finish().unwrap();
        let i = at.index(sealed.len());
        if cut {
            sealed.truncate(i);
        } else {
            sealed[i] ^= flip;
        }
        let result = open(&identities, &sealed[..]).and_then(|mut r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out).map_err(Into::into)
        });
        prop_assert!(result.is_err(), "a damaged age file opened");
    }
}
