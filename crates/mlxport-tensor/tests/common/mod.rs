//! This crate's own test fixtures; the shared helpers (the Python
//! reference environment, temporary directories, heap counting) are in
//! `mlxport-testkit`.

pub mod hostile;
