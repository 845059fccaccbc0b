//! The crate's one error type: every variant names the command, the file
//! or the output concerned and the rule broken, so a caller can match on
//! what went wrong without parsing messages.

use std::path::PathBuf;

use crate::schedule::Measured;

/// What can go wrong parsing, running and recording a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command string has an unterminated quote (`single` or `double`).
    #[error("unterminated {0} quote in command `{1}`")]
    UnterminatedQuote(&'static str, String),
    /// A command string ends in a backslash.
    #[error("trailing backslash in command `{0}`")]
    TrailingBackslash(String),
    /// A command has no words.
    #[error("empty command")]
    EmptyCommand,
    /// A command uses shell syntax but runs without a shell.
    #[error("`{word}` in `{command}` is shell syntax, but commands run without a shell: add --shell, or quote it to pass it as an argument")]
    ShellSyntax { word: String, command: String },
    /// A command could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    /// Waiting for a command failed.
    #[error("waiting for `{program}`: {source}")]
    Wait { program: String, source: std::io::Error },
    /// A measured command (or its warm-up) failed; what was measured so
    /// far comes with it.
    #[error("{what} of `{command}` failed: {status}{}", stderr_note(.stderr))]
    Failed { what: String, command: String, status: String, stderr: String, measured: Box<Measured> },
    /// A `--prepare` or `--cleanup` command failed.
    #[error("{which} command `{command}` failed: {status}{}", stderr_note(.stderr))]
    Hook { which: &'static str, command: String, status: String, stderr: String },
    /// A run lacks the metric a benchmark is measured by (or there are no
    /// runs); the message names the run and the metric.
    #[error("{0}")]
    MetricMissing(String),
    /// A file could not be read.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// A file breaks a rule (a quality gate that is not JSON, or has no
    /// pass/fail result).
    #[error("{}: {rule}", path.display())]
    Invalid { path: PathBuf, rule: String },
    /// Data handed to the crate breaks a rule (a generation benchmark's
    /// output, a receipt a claim is made from); the message names it.
    #[error("{0}")]
    InvalidInput(String),
}

fn stderr_note(s: &str) -> String {
    let s = s.trim_end();
    if s.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n{s}")
    }
}

/// Results of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandSpec;
    use crate::generate::Output;
    use crate::receipt::QualityGate;

    #[test]
    fn a_caller_can_match_what_went_wrong_and_the_file() {
        let missing = std::path::Path::new("no/such/gate.json");
        match QualityGate::load(missing) {
            Err(e @ Error::Io { .. }) => assert!(e.to_string().starts_with("no/such/gate.json: "), "{e}"),
            other => panic!("expected Error::Io, got {other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate.json");
        std::fs::write(&gate, "{\"score\": 1}").unwrap();
        match QualityGate::load(&gate) {
            Err(Error::Invalid { path, rule }) => {
                assert_eq!(path, gate);
                assert!(rule.starts_with("no pass/fail result"), "{rule}");
            }
            other => panic!("expected Error::Invalid, got {other:?}"),
        }
        assert!(matches!(CommandSpec::parse("a | b", false), Err(Error::ShellSyntax { word, .. }) if word == "|"));
        assert!(matches!(Output::parse(b"{}"), Err(Error::InvalidInput(m)) if m.starts_with("generation benchmark output is not")));
    }
}
