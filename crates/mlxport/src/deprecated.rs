//! Flag spellings of the previous release, still accepted (as hidden clap
//! aliases) for one release: each use prints a deprecation note naming the
//! flag to use instead. Every command now gives `--out`/`-o` one meaning
//! (where the command writes its result), `--target` one meaning (which MLX
//! implementation: `mlx-lm` or `scaffold`), and `--dtype` one meaning (the
//! dtype of converted weights; the source's compute dtype is
//! `--compute-dtype`).

/// (command words, old flag, new flag).
const RENAMED: &[(&[&str], &str, &str)] = &[
    (&["map", "draft"], "--output", "--out"),
    (&["map", "validate"], "--output", "--out"),
    (&["inspect"], "--output", "--out"),
    (&["plan"], "--output", "--out"),
    (&["oracle"], "--output", "--out"),
    (&["oracle"], "--dtype", "--compute-dtype"),
    (&["scaffold"], "--output", "--out"),
    (&["capture"], "--output", "--out"),
    (&["parity", "matrix"], "--output", "--out"),
    (&["parity"], "--dtype", "--compute-dtype"),
    (&["research"], "--output", "--out"),
    (&["quality"], "--output", "--out"),
    (&["optimize"], "--work-dir", "--out"),
    (&["bench", "generate"], "--receipt", "--out"),
    (&["bench"], "--receipt", "--out"),
];

/// The deprecation notes for a command line (program name first).
pub fn notes(args: &[String]) -> Vec<String> {
    let words: Vec<&str> = args.iter().skip(1).map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    let mut out = Vec::new();
    // The most specific command whose words the line starts with.
    let Some(best) = RENAMED.iter().map(|(c, _, _)| *c).filter(|c| words.starts_with(c)).max_by_key(|c| c.len()) else { return out };
    for (_, old, new) in RENAMED.iter().filter(|(c, _, _)| *c == best) {
        if args.iter().skip(1).any(|a| a == old || a.starts_with(&format!("{old}="))) {
            out.push(format!("warning: {old} is deprecated and goes away in the next release: use {new}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn old_spellings_get_a_note_and_new_ones_none() {
        assert_eq!(notes(&line("mlxport inspect m --output x.json")), vec!["warning: --output is deprecated and goes away in the next release: use --out"]);
        assert_eq!(notes(&line("mlxport optimize m --work-dir=w")), vec!["warning: --work-dir is deprecated and goes away in the next release: use --out"]);
        assert!(notes(&line("mlxport inspect m --out x.json")).is_empty());
        assert!(notes(&line("mlxport inspect m -o x.json")).is_empty());
        // `parity matrix --output` is matrix's, not parity's; parity's
        // --dtype note does not apply to the matrix.
        assert_eq!(notes(&line("mlxport parity matrix --output r.json")).len(), 1);
        assert!(notes(&line("mlxport parity matrix --dtype f32")).is_empty());
        assert_eq!(
            notes(&line("mlxport parity --dtype float32")),
            vec!["warning: --dtype is deprecated and goes away in the next release: use --compute-dtype"]
        );
        // `bench --output` (what to do with the child's output) is not renamed.
        assert!(notes(&line("mlxport bench --output null -- true")).is_empty());
        assert!(notes(&line("mlxport convert --dtype f16")).is_empty());
    }
}
