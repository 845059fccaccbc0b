//! The project's Python reference environment lives in the harness crate;
//! re-exported here for the commands that need it.

pub use mlxport_harness::env::PythonEnv;
