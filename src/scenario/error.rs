//! Scenario errors: where (file, line, or "from --set") and why, and the TOML syntax error.

use std::fmt;

/// Where a scenario error is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file as shown to the user.
    pub file: String,
    /// 1-based line of the key in the file, when the key (or a table above it) is in the file.
    pub line: Option<usize>,
    /// The key (or a table above it) came from `--set`: the file's line would point elsewhere.
    pub from_set: bool,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.from_set, self.line) {
            (true, _) => write!(f, "{} (from --set)", self.file),
            (false, Some(line)) => write!(f, "{}:{}", self.file, line),
            (false, None) => f.write_str(&self.file),
        }
    }
}

/// Why a scenario was refused. Every message names the file, the line when known, the dotted key,
/// the bad value and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The text is not TOML.
    #[error("{file}:{line}:{column}: invalid toml: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A `--set` argument is malformed, or names a key that cannot be set.
    #[error("{file}: --set {arg}: {reason}")]
    BadOverride {
        file: String,
        arg: String,
        reason: String,
    },
    /// An unknown key, a missing required key, or an entry the format cannot hold.
    #[error("{at}: {key}: {message}")]
    Schema {
        at: Location,
        key: String,
        message: String,
    },
    /// A value of the wrong type or breaking a rule; `expected` says what is allowed.
    #[error("{at}: {key} = {value}: {expected}")]
    Invalid {
        at: Location,
        key: String,
        value: String,
        expected: String,
    },
}

impl ScenarioError {
    /// The dotted key the error is about, if any (`cluster.servers`, `fault[2].crash`).
    pub fn key(&self) -> Option<&str> {
        match self {
            ScenarioError::Schema { key, .. } | ScenarioError::Invalid { key, .. } => Some(key),
            ScenarioError::Syntax { .. } | ScenarioError::BadOverride { .. } => None,
        }
    }

    /// Where the error is, for errors about a key.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ScenarioError::Schema { at, .. } | ScenarioError::Invalid { at, .. } => Some(at),
            ScenarioError::Syntax { .. } | ScenarioError::BadOverride { .. } => None,
        }
    }
}

pub(super) fn syntax_error(file: &str, text: &str, e: &toml_edit::TomlError) -> ScenarioError {
    let offset = e.span().map_or(0, |s| s.start).min(text.len());
    let (line, column) = line_col(text, offset);
    ScenarioError::Syntax {
        file: file.to_string(),
        line,
        column,
        message: one_line(e.message()),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// toml's messages span lines ("invalid array\nexpected `]`"); errors are printed on one.
pub(super) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testkit::*;

    #[test]
    fn toml_syntax_error() {
        let e = load_err(&edit("protocols", "protocols = [\"2pe\",,]"), &[]);
        assert!(matches!(e, ScenarioError::Syntax { line: 5, .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("test.toml:5:"), "{msg}");
        assert!(msg.contains("invalid toml"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        let e = load_err("name = \"x\"\nname = \"y\"\n", &[]);
        assert!(e.to_string().starts_with("test.toml:2:"), "{e}");
    }
}
