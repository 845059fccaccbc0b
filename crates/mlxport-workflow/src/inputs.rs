//! The inputs the oracle and the capture run on: a JSON file, texts, or
//! token-id sequences, with the number of greedy tokens to generate.

use std::path::Path;

use crate::error::{Error, Result};
use mlxport_harness::jobs::Inputs;

/// Inputs from a file (`--inputs FILE`), texts (`--text`) or token-id
/// sequences (`--token-ids 1,2,3`, one string per sequence), with
/// `generate` greedy tokens when given; validated.
pub fn from_args(file: Option<&Path>, text: &[String], token_ids: &[String], generate: Option<u32>) -> Result<Inputs> {
    let mut inputs = match file {
        Some(p) => Inputs::read(p)?,
        None if !text.is_empty() => Inputs { texts: Some(text.to_vec()), ..Default::default() },
        None if !token_ids.is_empty() => {
            let mut seqs = Vec::new();
            for s in token_ids {
                let ids: std::result::Result<Vec<u32>, _> = s.split(',').map(|t| t.trim().parse::<u32>()).collect();
                seqs.push(ids.map_err(|e| Error::invalid(format!("--token-ids '{s}': expected comma-separated integers: {e}")))?);
            }
            Inputs { token_ids: Some(seqs), ..Default::default() }
        }
        None => crate::bail!("give --inputs FILE, --text TEXT or --token-ids IDS"),
    };
    if generate.is_some() {
        inputs.generate = generate;
    }
    inputs.validate()?;
    Ok(inputs)
}
