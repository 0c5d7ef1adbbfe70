//! The `[sweep]` table: the scenario keys `run` sweeps and their values. Read from the document
//! as written, in the file's key order (the first key is the plots' x axis); the raw structs
//! accept and ignore it. The keys themselves are checked later, the way `--set` checks them:
//! each point of the grid is the scenario loaded with `key=value` overrides.

use super::error::{line_col, syntax_error};
use super::{Location, ScenarioError};
use toml_edit::{ImDocument, Item, TableLike, Value};

/// One swept key and its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepAxis {
    /// A key as `--set` takes it: `cluster.servers`, `fault[0].at_ms`.
    pub key: String,
    /// The values as TOML value text (`3`, `2.5`, `"round-robin"`, `[1, 3]`): `--set key=VALUE`.
    pub values: Vec<String>,
    /// Where the axis was given, for errors: `file.toml:14: [sweep] cluster.servers` or
    /// `--sweep cluster.servers=3,5`.
    pub source: String,
}

/// What a `[sweep]` entry must be.
const EXPECTED: &str =
    "expected a non-empty array of distinct values, e.g. \"cluster.servers\" = [3, 5, 7]";

/// The `[sweep]` table of the scenario `text` (shown to users as `file`), in file order; empty
/// when there is none. Keys may be quoted (`"cluster.servers" = [3, 5]`) or nested
/// (`cluster.servers = [3, 5]`, `[sweep.cluster]`): both name the key `cluster.servers`.
pub fn sweep_table(file: &str, text: &str) -> Result<Vec<SweepAxis>, ScenarioError> {
    let doc = ImDocument::parse(text).map_err(|e| syntax_error(file, text, &e))?;
    let Some((key, item)) = doc.as_table().get_key_value("sweep") else {
        return Ok(Vec::new());
    };
    let at = |span: Option<std::ops::Range<usize>>| Location {
        file: file.to_string(),
        line: span.map(|s| line_col(text, s.start).0),
        from_set: false,
    };
    let Some(table) = as_table(item) else {
        return Err(ScenarioError::Invalid {
            at: at(key.span()),
            key: "sweep".into(),
            value: shown(item),
            expected: "expected a table of key = [values], e.g. [sweep] \"cluster.servers\" = \
                       [3, 5, 7]"
                .into(),
        });
    };
    let mut axes = Vec::new();
    let ctx = Walk {
        file,
        text,
        at: &at,
    };
    ctx.walk(table, &mut Vec::new(), &mut axes)?;
    Ok(axes)
}

/// What walking the table needs to name where an entry is.
struct Walk<'a> {
    file: &'a str,
    text: &'a str,
    at: &'a dyn Fn(Option<std::ops::Range<usize>>) -> Location,
}

impl Walk<'_> {
    /// Collects the arrays under `table` (nested tables extend the key), in order.
    fn walk(
        &self,
        table: &dyn TableLike,
        prefix: &mut Vec<String>,
        out: &mut Vec<SweepAxis>,
    ) -> Result<(), ScenarioError> {
        for (k, item) in table.iter() {
            let span = table
                .get_key_value(k)
                .and_then(|(key, item)| key.span().or_else(|| item.span()));
            prefix.push(k.to_string());
            if let Some(inner) = as_table(item) {
                self.walk(inner, prefix, out)?;
            } else {
                let key = prefix.join(".");
                let error = |value: String| ScenarioError::Invalid {
                    at: (self.at)(span.clone()),
                    key: format!("[sweep] {key}"),
                    value,
                    expected: EXPECTED.into(),
                };
                let values = item
                    .as_array()
                    .map(|a| a.iter().map(value_text).collect::<Vec<_>>())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| error(shown(item)))?;
                if let Some((_, dup)) = values
                    .iter()
                    .enumerate()
                    .find(|(i, v)| values[..*i].contains(v))
                {
                    return Err(error(format!(
                        "{} (the value {dup} appears twice)",
                        shown(item)
                    )));
                }
                let line = span.map_or(String::new(), |s| {
                    format!(":{}", line_col(self.text, s.start).0)
                });
                out.push(SweepAxis {
                    source: format!("{}{line}: [sweep] {key}", self.file),
                    key,
                    values,
                });
            }
            prefix.pop();
        }
        Ok(())
    }
}

fn as_table(item: &Item) -> Option<&dyn TableLike> {
    match item {
        Item::Table(t) => Some(t),
        Item::Value(Value::InlineTable(t)) => Some(t),
        _ => None,
    }
}

/// A value as compact TOML text, without the file's comments and spacing around it.
fn value_text(v: &Value) -> String {
    let mut v = v.clone();
    v.decor_mut().clear();
    match &mut v {
        Value::Array(a) => a.fmt(),
        Value::InlineTable(t) => t.fmt(),
        _ => {}
    }
    v.to_string()
}

/// An item as shown in errors.
fn shown(item: &Item) -> String {
    match item {
        Item::Value(v) => value_text(v),
        Item::Table(_) => "a table".into(),
        Item::ArrayOfTables(_) => "a list of [[tables]]".into(),
        Item::None => "nothing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_nested_keys_in_file_order() {
        let text = "name = \"x\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\n\
                    [sweep]\n\"cluster.servers\" = [3, 5, 7]\nworkload.submit_to = [\"random\", [1, 2]]\n\
                    cluster.delta_ms = [1, 2.5]\n";
        let axes = sweep_table("t.toml", text).unwrap();
        let got: Vec<(&str, Vec<&str>)> = axes
            .iter()
            .map(|a| {
                (
                    a.key.as_str(),
                    a.values.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("cluster.servers", vec!["3", "5", "7"]),
                ("workload.submit_to", vec!["\"random\"", "[1, 2]"]),
                ("cluster.delta_ms", vec!["1", "2.5"]),
            ]
        );
        assert_eq!(axes[0].source, "t.toml:6: [sweep] cluster.servers");
    }

    #[test]
    fn no_sweep_table_is_no_axis() {
        assert!(sweep_table("t.toml", "name = \"x\"\n").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_name_file_line_and_key() {
        let base = "name = \"x\"\n[sweep]\n";
        for (entry, value) in [
            ("\"cluster.servers\" = 3", "3"),
            ("\"cluster.servers\" = []", "[]"),
            (
                "\"cluster.servers\" = [3, 3]",
                "[3, 3] (the value 3 appears twice)",
            ),
        ] {
            let e = sweep_table("t.toml", &format!("{base}{entry}\n")).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("t.toml:3: [sweep] cluster.servers = {value}: {EXPECTED}")
            );
        }
        let e = sweep_table("t.toml", "sweep = 3\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("t.toml:1: sweep = 3: expected a table"));
    }
}
