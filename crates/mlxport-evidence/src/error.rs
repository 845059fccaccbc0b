//! The crate's one error type: every variant names the file and the rule
//! broken, so a caller can match on what went wrong without parsing
//! messages.

/// What can go wrong reading feeds and sources files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A feed file or the feeds directory could not be read.
    #[error("feed {file}: {message}")]
    FeedUnreadable { file: String, message: String },
    /// A feed (or the feeds directory) breaks a rule: too large, malformed,
    /// too many entries, no feed files.
    #[error("feed {file}: {message}")]
    FeedInvalid { file: String, message: String },
    /// A sources file does not parse (bad TOML, an unknown field).
    #[error("{file}: {rule}")]
    SourcesInvalid { file: String, rule: String },
}

/// Results of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_can_match_what_went_wrong_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        match crate::research::read_feed(&bad) {
            Err(Error::FeedInvalid { file, message }) => {
                assert_eq!(file, bad.display().to_string());
                assert!(message.starts_with("invalid JSON"), "{message}");
            }
            other => panic!("expected Error::FeedInvalid, got {other:?}"),
        }
        assert!(matches!(crate::research::read_feed(&dir.path().join("none.json")), Err(Error::FeedUnreadable { .. })));
        match crate::sources::parse_file("schema = 1\ncolour = 2\n", "sources.toml") {
            Err(Error::SourcesInvalid { file, .. }) => assert_eq!(file, "sources.toml"),
            other => panic!("expected Error::SourcesInvalid, got {other:?}"),
        }
    }
}
