//! The inputs the oracle and the capture run on: a JSON file, texts,
//! token-id sequences or images, with the number of greedy tokens to
//! generate.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use mlxport_harness::jobs::Inputs;

/// The command-line forms of the inputs.
#[derive(Clone, Debug, Default)]
pub struct InputArgs<'a> {
    /// `--inputs FILE`.
    pub file: Option<&'a Path>,
    /// `--text`, repeated.
    pub text: &'a [String],
    /// `--token-ids 1,2,3`, one string per sequence.
    pub token_ids: &'a [String],
    /// `--image FILE|DIR`, repeated.
    pub images: &'a [PathBuf],
    /// `--sample-images`: the built-in set of photographs.
    pub sample_images: bool,
    pub generate: Option<u32>,
}

/// Inputs from a file, texts, token-id sequences or images, with
/// `generate` greedy tokens when given; validated.
pub fn from_args(a: &InputArgs) -> Result<Inputs> {
    let (file, text, token_ids, generate) = (a.file, a.text, a.token_ids, a.generate);
    let mut inputs = match file {
        Some(p) => Inputs::read(p)?,
        None if !a.images.is_empty() || a.sample_images => Inputs {
            images: Some(a.images.to_vec()),
            texts: (!text.is_empty()).then(|| text.to_vec()),
            token_ids: if token_ids.is_empty() { None } else { Some(parse_token_ids(token_ids)?) },
            ..Default::default()
        },
        None if !text.is_empty() => Inputs { texts: Some(text.to_vec()), ..Default::default() },
        None if !token_ids.is_empty() => Inputs { token_ids: Some(parse_token_ids(token_ids)?), ..Default::default() },
        None => crate::bail!("give --inputs FILE, --text TEXT, --token-ids IDS, --image FILE or --sample-images"),
    };
    if generate.is_some() {
        inputs.generate = generate;
    }
    inputs.validate()?;
    Ok(inputs)
}

/// `--token-ids` strings, each a comma-separated sequence.
fn parse_token_ids(token_ids: &[String]) -> Result<Vec<Vec<u32>>> {
    let mut seqs = Vec::new();
    for s in token_ids {
        let ids: std::result::Result<Vec<u32>, _> = s.split(',').map(|t| t.trim().parse::<u32>()).collect();
        seqs.push(ids.map_err(|e| Error::invalid(format!("--token-ids '{s}': expected comma-separated integers: {e}")))?);
    }
    Ok(seqs)
}
