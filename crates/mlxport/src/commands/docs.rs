//! `mlxport docs` and `mlxport explain`: knowledge-base pages in the
//! terminal.

use anyhow::{bail, Result};
use mlxport_kb::render;

use crate::cli::{DocsArgs, ExplainArgs};

pub fn docs(args: DocsArgs) -> Result<u8> {
    let kb = mlxport_kb::kb();
    match &args.topic {
        None => print!("{}", render::topic_list(kb)),
        Some(t) => match render::page(kb, t) {
            Some(page) => print!("{page}"),
            None => {
                let topics = render::topics(kb);
                let close = render::suggestions(t, topics.iter().map(|x| x.id.as_str()));
                let hint = if close.is_empty() { String::new() } else { format!(" (did you mean: {}?)", close.join(", ")) };
                bail!("no topic '{t}'{hint}; `mlxport docs` lists them")
            }
        },
    }
    Ok(crate::exit::OK)
}

pub fn explain(args: ExplainArgs) -> Result<u8> {
    let kb = mlxport_kb::kb();
    let Some(t) = kb.technique(args.technique.trim()) else {
        let close = render::suggestions(&args.technique, kb.techniques.iter().map(|t| t.id.as_str()));
        let hint = if close.is_empty() { String::new() } else { format!(" (did you mean: {}?)", close.join(", ")) };
        bail!("no technique '{}'{hint}; `mlxport docs techniques` lists them", args.technique)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(t)?);
    } else {
        print!("{}", render::explain(kb, t));
    }
    Ok(crate::exit::OK)
}
