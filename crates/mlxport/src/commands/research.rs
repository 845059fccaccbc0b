//! `mlxport research`: rank saved update feeds against the knowledge base
//! and write a review. Review only: the knowledge base is never edited.

use anyhow::{Context, Result};
use mlxport_evidence::research;

use crate::cli::ResearchArgs;

pub fn run(args: ResearchArgs) -> Result<u8> {
    let feeds = research::read_feeds(&args.feeds)?;
    let review = research::rank(mlxport_kb::kb(), &feeds);
    let md = research::markdown(&review);
    crate::output::write_atomic(&args.out, md.as_bytes()).with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&review)?);
    } else {
        let n = |s: &str| review.candidates.iter().filter(|c| c.status == s).count();
        println!(
            "{} entries from {} feeds: {} new, {} changed, {} known; review written to {}",
            review.candidates.len(),
            review.feeds.len(),
            n("new"),
            n("changed"),
            n("known"),
            args.out.display()
        );
    }
    Ok(crate::exit::OK)
}
