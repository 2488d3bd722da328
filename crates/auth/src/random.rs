//! The one source of randomness: aws-lc's system generator.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::error::RandomError;

/// Fills `buf` from the operating system's CSPRNG (through aws-lc).
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(buf).map_err(|_| RandomError)
}
