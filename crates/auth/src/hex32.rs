//! A 32-byte value kept as hex: its accessors and its serde form, shared by session ids and
//! recovery-code hashes.

/// Implements `as_bytes`, `to_hex`, `from_hex` and hex `Serialize`/`Deserialize` for a
/// newtype over `[u8; 32]`.
macro_rules! hex32 {
    ($ty:ident) => {
        impl $ty {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Lowercase hex, for storage.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// From hex in either case, as stored.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(s, &mut bytes).ok()?;
                Some(Self(bytes))
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(deserializer)?;
                Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
            }
        }
    };
}

pub(crate) use hex32;
