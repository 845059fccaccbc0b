//! The crate's one error type: every variant names the file (or the
//! origin of a text) and the rule broken, so a caller can match on what
//! went wrong without parsing messages.

/// What can go wrong reading the knowledge base, a report, a target
/// profile or receipts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read; `op` says what was tried
    /// (`cannot read`, `cannot read receipts directory`).
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A knowledge-base file does not parse (unknown field, bad TOML).
    #[error("knowledge base file {file}: {message}")]
    KbFile { file: String, message: String },
    /// A file that should be an inspection report is not one (bad JSON,
    /// another schema, no fingerprint).
    #[error("{path}: not an inspection report: {message}")]
    NotInspection { path: String, message: String },
    /// An input breaks a rule: a target profile, an example signal.
    /// `origin` names the file or the value.
    #[error("{origin}: {rule}")]
    InvalidInput { origin: String, rule: String },
    /// Re-inspecting the model failed.
    #[error(transparent)]
    Intake(#[from] mlxport_intake::Error),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, op: &'static str, source: std::io::Error) -> Error {
        Error::Io { path: path.display().to_string(), op, source }
    }

    pub(crate) fn invalid(origin: impl Into<String>, rule: impl Into<String>) -> Error {
        Error::InvalidInput { origin: origin.into(), rule: rule.into() }
    }
}

/// Results of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::TargetProfile;
    use crate::InspectionView;

    #[test]
    fn a_caller_can_match_what_went_wrong_and_the_file() {
        match TargetProfile::parse("memory = \"lots\"", "bad.toml") {
            Err(Error::InvalidInput { origin, rule }) => {
                assert_eq!(origin, "bad.toml");
                assert_eq!(rule, "memory: 'lots' is not a size (try 16GB)");
            }
            other => panic!("expected Error::InvalidInput, got {other:?}"),
        }
        match InspectionView::read(std::path::Path::new("no/such/report.json")) {
            Err(e @ Error::Io { .. }) => assert!(e.to_string().starts_with("no/such/report.json: cannot read: "), "{e}"),
            other => panic!("expected Error::Io, got {other:?}"),
        }
        match InspectionView::parse("{}", "r.json") {
            Err(Error::NotInspection { path, .. }) => assert_eq!(path, "r.json"),
            other => panic!("expected Error::NotInspection, got {other:?}"),
        }
        let mut text = crate::KbText::default();
        text.runbooks.push_str("\nspeedup = 3\n");
        assert!(matches!(crate::Kb::parse(&text), Err(Error::KbFile { file, .. }) if file == "runbooks.toml"));
        assert!(matches!(crate::check::route_example("llama"), Err(Error::InvalidInput { rule, .. }) if rule == "'llama' is not kind:value"));
    }
}
