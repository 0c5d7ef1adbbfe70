//! Key paths (`cluster.servers`, `fault[2].crash`, `ticket[0].submit[1].server`) on the
//! `toml_edit` document: looking a path up (for the line of an error), finding the path at a
//! span, and `--set key=value` overrides.

use std::ops::Range;
use toml_edit::{DocumentMut, Item, TableLike, Value};

// ---------------------------------------------------------------------------------------------
// Key paths: `cluster.servers`, `fault[2].crash`, `ticket[0].submit[1].server`

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) type Path = Vec<Seg>;

pub(super) fn display_path(path: &[Seg]) -> String {
    if path.is_empty() {
        return "(top level)".to_string();
    }
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A read-only view of a document node, to walk key paths over tables, inline tables, arrays and
/// arrays of tables alike.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a dyn TableLike),
    Array(&'a toml_edit::Array),
    Tables(&'a toml_edit::ArrayOfTables),
    Leaf,
}

/// One child of a node: its path segment, the span of its key (table entries only), the span of
/// the item, and the node.
type Child<'a> = (Seg, Option<Range<usize>>, Option<Range<usize>>, Node<'a>);

impl<'a> Node<'a> {
    fn of_item(item: &'a Item) -> Self {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::of_value(v),
            Item::None => Node::Leaf,
        }
    }

    fn of_value(v: &'a Value) -> Self {
        match v {
            Value::InlineTable(t) => Node::Table(t),
            Value::Array(a) => Node::Array(a),
            _ => Node::Leaf,
        }
    }

    /// The child at `seg` and the span to point at for it: a table entry's key (its line is the
    /// key's line even when the value spans lines), an array element or `[[table]]` itself.
    fn child(self, seg: &Seg) -> Option<(Node<'a>, Option<Range<usize>>)> {
        match (self, seg) {
            (Node::Table(t), Seg::Key(k)) => t
                .get_key_value(k)
                .filter(|(_, item)| !item.is_none())
                .map(|(key, item)| (Node::of_item(item), key.span().or_else(|| item.span()))),
            (Node::Array(a), Seg::Index(i)) => a.get(*i).map(|v| (Node::of_value(v), v.span())),
            (Node::Tables(a), Seg::Index(i)) => a.get(*i).map(|t| (Node::Table(t), t.span())),
            _ => None,
        }
    }

    fn children(self) -> Vec<Child<'a>> {
        match self {
            Node::Table(t) => t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k))
                .map(|(key, item)| {
                    (
                        Seg::Key(key.get().to_string()),
                        key.span(),
                        item.span(),
                        Node::of_item(item),
                    )
                })
                .collect(),
            Node::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), None, v.span(), Node::of_value(v)))
                .collect(),
            Node::Tables(a) => a
                .iter()
                .enumerate()
                .map(|(i, t)| (Seg::Index(i), None, t.span(), Node::Table(t)))
                .collect(),
            Node::Leaf => Vec::new(),
        }
    }
}

/// Looks `path` up: whether all of it exists, and the span of its deepest existing part (so a
/// missing key points at its table).
pub(super) fn lookup(root: &Item, path: &[Seg]) -> (bool, Option<Range<usize>>) {
    let mut node = Node::of_item(root);
    let mut best = None;
    for seg in path {
        match node.child(seg) {
            Some((child, span)) => {
                if span.is_some() {
                    best = span;
                }
                node = child;
            }
            None => return (false, best),
        }
    }
    (true, best)
}

fn contains(outer: &Option<Range<usize>>, inner: &Range<usize>) -> bool {
    matches!(outer, Some(o) if o.start <= inner.start && inner.end <= o.end)
}

/// The path of the deepest key or value whose span holds `target` (a span from a toml error).
pub(super) fn path_at(root: &Item, target: &Range<usize>) -> Path {
    fn descend(node: Node<'_>, target: &Range<usize>, path: &mut Path) -> bool {
        for (seg, key_span, item_span, child) in node.children() {
            if contains(&key_span, target) {
                path.push(seg);
                return true;
            }
            // Implicit and dotted tables have no span of their own: look inside anyway.
            let inside = contains(&item_span, target);
            if inside || (item_span.is_none() && !matches!(child, Node::Leaf)) {
                path.push(seg);
                if descend(child, target, path) || inside {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = Vec::new();
    descend(Node::of_item(root), target, &mut path);
    path
}

// ---------------------------------------------------------------------------------------------
// Overrides: `--set key=value`

/// Applies one `--set key=value` to `doc`; returns the key's path.
pub(super) fn apply_override(doc: &mut DocumentMut, arg: &str) -> Result<Path, String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err("expected key=value, e.g. --set cluster.servers=7".to_string());
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("expected key=value with a non-empty key, e.g. --set cluster.servers=7".into());
    }
    let path = parse_key_path(key)?;
    let value = value.trim();
    // A TOML value if it is one (`7`, `["2pe"]`, `{ from = 1, to = 2, ms = 5 }`), else a string,
    // so `--set name=foo` and `--set workload.submit_to=round-robin` need no quotes.
    let mut value = value
        .parse::<Value>()
        .unwrap_or_else(|_| Value::from(value));
    value.decor_mut().clear();
    set_at(doc.as_item_mut(), &path, value)?;
    Ok(path)
}

/// `cluster.servers`, `fault[0].at_ms`, `ticket[1].submit[0].server` → segments.
fn parse_key_path(key: &str) -> Result<Path, String> {
    let bad = |why: &str| {
        format!(
            "key {key:?}: {why}; expected dotted keys of letters, digits, '_' and '-', each \
             optionally followed by [index], e.g. cluster.servers or fault[0].at_ms"
        )
    };
    let mut path = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(bad("empty key"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(&format!("bad key {name:?}")));
        }
        path.push(Seg::Key(name.to_string()));
        while !rest.is_empty() {
            let Some(close) = rest.find(']') else {
                return Err(bad("unclosed ["));
            };
            let index = rest[1..close]
                .parse::<usize>()
                .map_err(|_| bad(&format!("bad index {:?}", &rest[1..close])))?;
            path.push(Seg::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad(&format!("unexpected {rest:?} after ]")));
            }
        }
    }
    Ok(path)
}

/// A mutable view of a document node.
enum NodeMut<'a> {
    Item(&'a mut Item),
    Table(&'a mut toml_edit::Table),
    Value(&'a mut Value),
}

fn implicit_table() -> Item {
    let mut t = toml_edit::Table::new();
    t.set_implicit(true);
    Item::Table(t)
}

impl<'a> NodeMut<'a> {
    /// The node as a table, creating an empty one in place of a missing item.
    fn into_table_like(self, here: &[Seg]) -> Result<&'a mut dyn TableLike, String> {
        let not_a_table = || format!("{} is not a table", display_path(here));
        match self {
            NodeMut::Item(item) => {
                if item.is_none() {
                    *item = implicit_table();
                }
                match item {
                    Item::ArrayOfTables(_) => Err(format!(
                        "{} is a list of [[{}]] entries: pick one, e.g. {}[0]",
                        display_path(here),
                        display_path(here),
                        display_path(here)
                    )),
                    _ => item.as_table_like_mut().ok_or_else(not_a_table),
                }
            }
            NodeMut::Table(t) => Ok(t),
            NodeMut::Value(v) => v
                .as_inline_table_mut()
                .map(|t| t as &mut dyn TableLike)
                .ok_or_else(not_a_table),
        }
    }
}

/// Sets `path` to `value`, creating missing tables on the way.
fn set_at(root: &mut Item, path: &[Seg], value: Value) -> Result<(), String> {
    let (last, parents) = path
        .split_last()
        .expect("a key path has at least one segment");
    let mut node = NodeMut::Item(root);
    for (depth, seg) in parents.iter().enumerate() {
        let here = &path[..depth];
        node = match seg {
            Seg::Key(k) => {
                let t = node.into_table_like(here)?;
                if t.get(k).is_none() {
                    t.insert(k, implicit_table());
                }
                NodeMut::Item(t.get_mut(k).expect("inserted above"))
            }
            Seg::Index(i) => index_mut(node, *i, &path[..=depth])?,
        };
    }
    match last {
        Seg::Key(k) => {
            node.into_table_like(parents)?.insert(k, Item::Value(value));
        }
        Seg::Index(i) => match node {
            NodeMut::Item(Item::Value(Value::Array(a))) | NodeMut::Value(Value::Array(a))
                if *i < a.len() =>
            {
                a.replace(*i, value);
            }
            NodeMut::Item(Item::ArrayOfTables(_)) => {
                return Err(format!(
                    "cannot replace a whole [[{}]] entry: set its keys one by one, e.g. {}.at_ms=0",
                    display_path(parents),
                    display_path(path)
                ))
            }
            _ => return Err(format!("{} does not exist", display_path(path))),
        },
    }
    Ok(())
}

fn index_mut<'a>(node: NodeMut<'a>, i: usize, path: &[Seg]) -> Result<NodeMut<'a>, String> {
    let missing = || format!("{} does not exist", display_path(path));
    match node {
        NodeMut::Item(Item::ArrayOfTables(a)) => {
            a.get_mut(i).map(NodeMut::Table).ok_or_else(missing)
        }
        NodeMut::Item(Item::Value(Value::Array(a))) | NodeMut::Value(Value::Array(a)) => {
            a.get_mut(i).map(NodeMut::Value).ok_or_else(missing)
        }
        _ => Err(format!(
            "{} is not a list",
            display_path(&path[..path.len() - 1])
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::ProtocolKind;
    use crate::scenario::testkit::*;
    use crate::scenario::{FaultAction, Mode, ScenarioError, SubmitTo};

    #[test]
    fn override_servers() {
        let s = with_set(BASE, &["cluster.servers=7"]).unwrap();
        assert_eq!(s.cluster.servers, 7);
    }

    #[test]
    fn override_protocols_with_a_toml_array() {
        let s = with_set(BASE, &[r#"cluster.protocols=["2pe"]"#]).unwrap();
        assert_eq!(s.cluster.protocols, vec![ProtocolKind::TwoPe]);
    }

    #[test]
    fn override_bare_strings() {
        let s = with_set(
            BASE,
            &[
                "workload.submit_to=round-robin",
                "name=foo",
                "cluster.mode=processes",
            ],
        )
        .unwrap();
        assert_eq!(s.workload.submit_to, SubmitTo::RoundRobin);
        assert_eq!(s.name, "foo");
        assert_eq!(s.cluster.mode, Mode::Processes);
        // A quoted TOML string works too.
        let s = with_set(BASE, &[r#"name="bar""#]).unwrap();
        assert_eq!(s.name, "bar");
    }

    #[test]
    fn override_submit_to_list() {
        let s = with_set(BASE, &["workload.submit_to=[1,3]"]).unwrap();
        assert_eq!(s.workload.submit_to, SubmitTo::Servers(vec![1, 3]));
    }

    #[test]
    fn override_creates_a_missing_table_and_later_overrides_win() {
        let text = "name = \"m\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\n";
        let s = with_set(
            text,
            &["workload.tickets=5", "workload.tickets=6", "seed=9"],
        )
        .unwrap();
        assert_eq!(s.workload.tickets, 6);
        assert_eq!(s.seed, Some(9));
    }

    #[test]
    fn override_inside_an_array_of_tables() {
        let text = append("[[fault]]\nat_ms = 1\ncrash = [2]\n");
        let s = with_set(&text, &["fault[0].crash=[4]", "fault[0].at_ms=7"]).unwrap();
        assert_eq!(s.faults[0].action, FaultAction::Crash(vec![4]));
        assert_eq!(s.faults[0].at, 7_000);
    }

    #[test]
    fn malformed_overrides_are_refused() {
        for (arg, reason) in [
            ("cluster.servers", "expected key=value"),
            ("=7", "non-empty key"),
            ("cluster..servers=7", "empty key"),
            ("name.x=1", "name is not a table"),
            ("fault.at_ms=1", "[[fault]]"),
            ("cluster.servers[x]=1", "bad index"),
        ] {
            let text = append("[[fault]]\nat_ms = 1\ncrash = [2]\n");
            let e = load_err(&text, &[arg]);
            assert!(matches!(e, ScenarioError::BadOverride { .. }), "{arg}: {e}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("test.toml: --set {arg}: ")),
                "{msg}"
            );
            assert!(msg.contains(reason), "{arg}: {msg}");
        }
    }

    #[test]
    fn override_errors_say_from_set() {
        let e = load_err(BASE, &["cluster.servers=0"]);
        let msg = e.to_string();
        assert_eq!(
            msg,
            "test.toml (from --set): cluster.servers = 0: expected an integer from 1 to 1000 (up to \
             128 in mode \"processes\")"
        );
    }

    #[test]
    fn unknown_key_via_set() {
        let e = load_err(BASE, &["cluster.server=7"]);
        let msg = e.to_string();
        assert!(
            msg.starts_with("test.toml (from --set): cluster.server: unknown key"),
            "{msg}"
        );
        assert!(msg.contains("`servers`"), "{msg}");
        // A new table from --set is reported as from --set too.
        let e = load_err(BASE, &["clusterx.servers=7"]);
        assert!(
            e.to_string()
                .starts_with("test.toml (from --set): clusterx: unknown key"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_via_set() {
        let e = load_err(BASE, &["cluster.protocols=2pe"]);
        assert_eq!(
            e.to_string(),
            "test.toml (from --set): cluster.protocols = \"2pe\": expected an array"
        );
    }

    #[test]
    fn lines_stay_those_of_the_file_after_overrides() {
        // The override adds a key to [cluster], moving later lines of the rendered text down.
        let no_jitter =
            |deadline: &str| edit("deadline_ms", deadline).replace("jitter_ms = 0.0\n", "");
        let e = load_err(&no_jitter("deadline_ms = 0"), &["cluster.jitter_ms=1"]);
        assert_err_at(&e, 17, "workload.deadline_ms");
        let e = load_err(&no_jitter("deadline_ms = 'x'"), &["cluster.jitter_ms=1"]);
        assert_err_at(&e, 17, "workload.deadline_ms");
    }
}
