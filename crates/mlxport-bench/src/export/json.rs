//! The receipt itself, pretty-printed.

use super::Export;
use crate::receipt::Receipt;

pub struct Json;

impl Export for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn render(&self, r: &Receipt) -> String {
        let mut s = serde_json::to_string_pretty(r).expect("receipts serialize");
        s.push('\n');
        s
    }
}
