//! Password hashing with argon2id (RFC 9106), stored as PHC strings.
//!
//! # Parameters
//!
//! `m` = [`ARGON2_M_COST_KIB`] KiB, `t` = [`ARGON2_T_COST`] passes, `p` = [`ARGON2_P_COST`]
//! lane, 16-byte salt, 32-byte output, version 0x13.
//!
//! Chosen for the service's 2-core server, aiming at 50–100 ms per hash. Measured there
//! (release build, `timing` test below): a verification takes 76 ms (median of 20; 70–120 ms),
//! [`dummy_verify`] the same, and two verifications started together finish after about
//! 180 ms, because argon2 is bound by memory bandwidth, which the cores share. The server
//! therefore manages about 11–13 verifications per second whatever the concurrency.
//!
//! One lane because the `argon2` crate computes lanes one after another unless its `parallel`
//! feature (rayon) is on, and because on two cores concurrent logins already use both: extra
//! lanes would add latency, not throughput. Memory is the dimension that hurts GPU and ASIC
//! attackers most, so it is as large as the server can give two logins at once (64 MiB; the
//! OWASP minimum profiles are 19 MiB with t = 2 or 46 MiB with t = 1), and the second pass
//! spends the rest of the time budget, doubling an attacker's cost per guess at that memory.
//! Each verification in flight holds `m` of RAM; the service
//! should admit at most two at a time (a semaphore) so that a burst of logins queues instead
//! of exhausting memory, and throttle per source address so that the queue stays short.
//!
//! # Changing the parameters
//!
//! Raise the constants; stored hashes keep their own parameters and still verify. After a
//! successful login, [`needs_rehash`] says whether the stored hash predates the change; the
//! service then stores [`hash_password`] of the password it just verified.
//!
//! # What is accepted from storage
//!
//! [`verify_password`] takes its parameters from the stored string, so it bounds them
//! ([`MAX_ACCEPTED_M_COST_KIB`] etc.): a corrupt or planted record must not make a login
//! allocate gigabytes or spin for minutes. Only argon2id version 0x13 is accepted: this crate
//! never writes anything else, so anything else is not ours.

use std::hint::black_box;
use std::sync::LazyLock;

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{HashError, VerifyError};

/// Memory cost in KiB (64 MiB).
pub const ARGON2_M_COST_KIB: u32 = 64 * 1024;
/// Number of passes over the memory.
pub const ARGON2_T_COST: u32 = 2;
/// Degree of parallelism (lanes).
pub const ARGON2_P_COST: u32 = 1;
/// Salt length in bytes (RFC 9106 recommends 16).
pub const SALT_LEN: usize = 16;
/// Hash output length in bytes.
pub const OUTPUT_LEN: usize = 32;

/// Longest password, in bytes, that is hashed or verified. The policy allows 128 characters
/// (at most 512 bytes); this bound only protects the hashing functions from being fed
/// megabytes by a caller that skipped the policy.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Largest memory cost accepted from a stored hash (256 MiB, four times the current cost).
pub const MAX_ACCEPTED_M_COST_KIB: u32 = 256 * 1024;
/// Largest number of passes accepted from a stored hash.
pub const MAX_ACCEPTED_T_COST: u32 = 16;
/// Largest number of lanes accepted from a stored hash.
pub const MAX_ACCEPTED_P_COST: u32 = 8;

const PHC_ALGORITHM: &str = "argon2id";
const PHC_VERSION: u32 = 0x13;
const MIN_ACCEPTED_SALT_LEN: usize = 8;
const MAX_ACCEPTED_SALT_LEN: usize = 64;
const MIN_ACCEPTED_OUTPUT_LEN: usize = 16;
const MAX_ACCEPTED_OUTPUT_LEN: usize = 64;

/// The current parameters. A `const` so that invalid values fail the build, not a login.
const PARAMS: Params = match Params::new(
    ARGON2_M_COST_KIB,
    ARGON2_T_COST,
    ARGON2_P_COST,
    Some(OUTPUT_LEN),
) {
    Ok(params) => params,
    Err(_) => panic!("invalid argon2 parameters"),
};

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh salt and the current parameters; returns the PHC string to
/// store, e.g. `$argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>`.
///
/// Call [`crate::check_password`] first: this function hashes whatever it is given.
///
/// # Errors
///
/// [`HashError::Random`] if no salt can be drawn, [`HashError::TooLong`] beyond
/// [`MAX_PASSWORD_BYTES`].
pub fn hash_password(password: &str) -> Result<String, HashError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(HashError::TooLong);
    }
    let mut salt = [0u8; SALT_LEN];
    crate::random::fill(&mut salt)?;
    let hash = argon2(PARAMS)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(hash.to_string())
}

/// What [`verify_password`] needs from a stored PHC string, after the bounds checks.
struct Stored {
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

fn parse(phc: &str) -> Result<Stored, VerifyError> {
    let hash = PasswordHash::new(phc).map_err(|_| VerifyError::BadHash("not a PHC string"))?;
    if hash.algorithm.as_str() != PHC_ALGORITHM {
        return Err(VerifyError::BadHash("algorithm is not argon2id"));
    }
    if hash.version != Some(PHC_VERSION) {
        return Err(VerifyError::BadHash("argon2 version is not 19 (0x13)"));
    }
    let salt = hash
        .salt
        .as_ref()
        .ok_or(VerifyError::BadHash("no salt"))?
        .as_ref()
        .to_vec();
    if !(MIN_ACCEPTED_SALT_LEN..=MAX_ACCEPTED_SALT_LEN).contains(&salt.len()) {
        return Err(VerifyError::BadHash("salt length out of bounds"));
    }
    let expected = hash
        .hash
        .as_ref()
        .ok_or(VerifyError::BadHash("no hash value"))?
        .as_bytes()
        .to_vec();
    if !(MIN_ACCEPTED_OUTPUT_LEN..=MAX_ACCEPTED_OUTPUT_LEN).contains(&expected.len()) {
        return Err(VerifyError::BadHash("hash length out of bounds"));
    }
    // Sets the output length from the stored hash value as well.
    let params =
        Params::try_from(&hash).map_err(|_| VerifyError::BadHash("invalid argon2 parameters"))?;
    if params.m_cost() > MAX_ACCEPTED_M_COST_KIB {
        return Err(VerifyError::BadHash("memory cost above the accepted bound"));
    }
    if params.t_cost() > MAX_ACCEPTED_T_COST {
        return Err(VerifyError::BadHash("time cost above the accepted bound"));
    }
    if params.p_cost() > MAX_ACCEPTED_P_COST {
        return Err(VerifyError::BadHash("parallelism above the accepted bound"));
    }
    if !params.keyid().is_empty() || !params.data().is_empty() {
        return Err(VerifyError::BadHash("unexpected keyid or data parameter"));
    }
    Ok(Stored {
        params,
        salt,
        expected,
    })
}

/// Verifies `password` against a stored PHC string.
///
/// The cost is one argon2id computation with the stored parameters, whatever the password:
/// the comparison of the result is constant-time (aws-lc), and over-long passwords still pay
/// for a full computation before they are refused. Users that do not exist must go through
/// [`dummy_verify`] so that they cost the same.
///
/// # Errors
///
/// [`VerifyError::Mismatch`] for a wrong password; [`VerifyError::BadHash`] if the stored
/// string is not one this crate accepts.
pub fn verify_password(password: &str, phc: &str) -> Result<(), VerifyError> {
    let stored = parse(phc)?;
    // An over-long password is hashed as the empty one and then refused, so that it costs
    // what any other attempt costs and tells an observer nothing.
    let too_long = password.len() > MAX_PASSWORD_BYTES;
    let input = if too_long { "" } else { password };
    let mut computed = Zeroizing::new(vec![0u8; stored.expected.len()]);
    argon2(stored.params)
        .hash_password_into(input.as_bytes(), &stored.salt, &mut computed)
        .map_err(|e| VerifyError::Argon2(e.to_string()))?;
    let equal = verify_slices_are_equal(&computed, &stored.expected).is_ok();
    if equal && !too_long {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Whether a stored hash (that just verified) should be replaced by a fresh
/// [`hash_password`] of the same password: its parameters, salt length or output length
/// differ from the current ones, or it is not one this crate can read.
pub fn needs_rehash(phc: &str) -> bool {
    match parse(phc) {
        Ok(stored) => {
            stored.params.m_cost() != ARGON2_M_COST_KIB
                || stored.params.t_cost() != ARGON2_T_COST
                || stored.params.p_cost() != ARGON2_P_COST
                || stored.salt.len() != SALT_LEN
                || stored.expected.len() != OUTPUT_LEN
        }
        Err(_) => true,
    }
}

/// A PHC string with the current parameters that no password matches in practice: its hash
/// value is fixed bytes, not the output of argon2.
static DUMMY_PHC: LazyLock<String> = LazyLock::new(|| {
    format!(
        "${PHC_ALGORITHM}$v={PHC_VERSION}$m={ARGON2_M_COST_KIB},t={ARGON2_T_COST},p={ARGON2_P_COST}${}${}",
        STANDARD_NO_PAD.encode([0x5a_u8; SALT_LEN]),
        STANDARD_NO_PAD.encode([0xa5_u8; OUTPUT_LEN]),
    )
});

/// Costs what a real [`verify_password`] with the current parameters costs, and always fails.
///
/// Call it when the login id is unknown (or the account has no password), then answer as for
/// a wrong password: without it, "no such user" would answer in microseconds and
/// "wrong password" in tens of milliseconds, telling an attacker which login ids exist.
/// It runs the same code path, PHC parsing included, on a fixed string.
pub fn dummy_verify() {
    // black_box: the result is unused, and the optimiser must not conclude that the work is.
    let _ = black_box(verify_password(black_box(""), &DUMMY_PHC));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("Correct-Horse-7").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=65536,t=2,p=1$"), "{phc}");
        assert_eq!(verify_password("Correct-Horse-7", &phc), Ok(()));
        assert_eq!(
            verify_password("Correct-Horse-8", &phc),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(verify_password("", &phc), Err(VerifyError::Mismatch));
        assert!(!needs_rehash(&phc));
        // Fresh salt every time.
        assert_ne!(phc, hash_password("Correct-Horse-7").unwrap());
    }

    /// Interoperability with the reference implementation: this is the argon2id v0x13 vector
    /// of its test suite (phc-winner-argon2 `src/test.c`: password "password", salt
    /// "somesalt", t = 2, m = 2^16 KiB, p = 1), as a PHC string.
    #[test]
    fn verifies_reference_implementation_output() {
        let phc = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert_eq!(verify_password("password", phc), Ok(()));
        assert_eq!(verify_password("passwore", phc), Err(VerifyError::Mismatch));
        // Salt of 8 bytes: flagged for rehash.
        assert!(needs_rehash(phc));
    }

    #[test]
    fn old_parameters_verify_and_ask_for_rehash() {
        let salt = [7u8; SALT_LEN];
        let old = Params::new(19 * 1024, 2, 1, Some(OUTPUT_LEN)).unwrap();
        let phc = argon2(old)
            .hash_password_with_salt(b"Old-Params-42", &salt)
            .unwrap()
            .to_string();
        assert_eq!(verify_password("Old-Params-42", &phc), Ok(()));
        assert!(needs_rehash(&phc));
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn refuses_foreign_or_oversized_hashes() {
        let phc = hash_password("Some-Password-1").unwrap();
        let bad = |s: &str| {
            matches!(
                verify_password("Some-Password-1", s),
                Err(VerifyError::BadHash(_))
            )
        };
        assert!(bad(&phc.replace("argon2id", "argon2i")));
        assert!(bad(&phc.replace("argon2id", "argon2d")));
        assert!(bad(&phc.replace("v=19", "v=16")));
        assert!(bad(&phc.replace("m=65536", "m=4194304")));
        assert!(bad(&phc.replace("t=2", "t=1000")));
        assert!(bad(&phc.replace("p=1", "p=64")));
        assert!(bad(
            "$2b$12$abcdefghijklmnopqrstuu5Gv5Bl1d3i4KXlyqQ0rjh9tA5wNkP1C"
        ));
        assert!(bad(""));
        let cut = phc.rsplit_once('$').unwrap().0;
        assert!(bad(cut));
    }

    #[test]
    fn over_long_passwords() {
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hash_password(&long), Err(HashError::TooLong));
        let phc = hash_password("").unwrap();
        // Hashed as the empty password, yet still refused.
        assert_eq!(verify_password(&long, &phc), Err(VerifyError::Mismatch));
    }

    #[test]
    fn dummy_has_current_parameters() {
        let stored = parse(&DUMMY_PHC).unwrap();
        assert_eq!(stored.params.m_cost(), ARGON2_M_COST_KIB);
        assert_eq!(stored.params.t_cost(), ARGON2_T_COST);
        assert_eq!(stored.params.p_cost(), ARGON2_P_COST);
        assert!(!needs_rehash(&DUMMY_PHC));
        assert_eq!(verify_password("", &DUMMY_PHC), Err(VerifyError::Mismatch));
    }

    /// Prints the cost of a verification and of the dummy. Ignored by default because it is
    /// only meaningful in an optimised build on the target machine:
    /// `cargo test -p kenshin-auth --release -- --ignored --nocapture timing`.
    #[test]
    #[ignore]
    fn timing() {
        let phc = hash_password("Correct-Horse-7").unwrap();
        let runs = 20;
        let mut real = Vec::new();
        let mut dummy = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let _ = verify_password("Wrong-Horse-77", &phc);
            real.push(t.elapsed());
            let t = Instant::now();
            dummy_verify();
            dummy.push(t.elapsed());
        }
        real.sort();
        dummy.sort();
        // Two logins at once, one per core: memory bandwidth is shared.
        let mut both = Vec::new();
        for _ in 0..runs / 2 {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        let _ = verify_password("Wrong-Horse-77", &phc);
                    });
                }
            });
            both.push(t.elapsed());
        }
        both.sort();
        println!(
            "two concurrent verifications: median {:?}",
            both[both.len() / 2]
        );
        println!(
            "argon2id m={ARGON2_M_COST_KIB} KiB t={ARGON2_T_COST} p={ARGON2_P_COST}: \
             verify median {:?} (min {:?}, max {:?}); dummy median {:?} (min {:?}, max {:?})",
            real[runs / 2],
            real[0],
            real[runs - 1],
            dummy[runs / 2],
            dummy[0],
            dummy[runs - 1],
        );
    }
}
