//! Renderings of a receipt, one small module per format behind one trait.

mod json;
mod markdown;
mod svg;

pub use json::Json;
pub use markdown::Markdown;
pub use svg::Svg;

use crate::receipt::Receipt;

/// A format a receipt can be rendered to.
pub trait Export {
    /// The format's name (`json`, `markdown`, `svg`).
    fn name(&self) -> &'static str;
    fn render(&self, receipt: &Receipt) -> String;
}

/// The exporter for a format name.
pub fn by_name(name: &str) -> Option<Box<dyn Export>> {
    match name {
        "json" => Some(Box::new(Json)),
        "markdown" | "md" => Some(Box::new(Markdown)),
        "svg" => Some(Box::new(Svg)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
