//! Small helpers every mlxport crate shares, written once: hex and SHA-256
//! digests of bytes and files ([`hash`]), an error with its causes
//! ([`error`]), files written atomically
//! ([`fs`]), sizes and counts people can read ([`human`]) and RFC 3339
//! timestamps ([`time`]). Nothing here knows about models.
//!
//! ```
//! use mlxport_util::{hash, human};
//! assert_eq!(hash::sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
//! assert_eq!(human::bytes(1536), "1.5 KiB");
//! assert_eq!(human::count(22_700_000), "22.7M");
//! ```

pub mod error;
pub mod fs;
pub mod hash;
pub mod human;
pub mod time;
