//! Scenario files: TOML → raw serde structs (`deny_unknown_fields`) → a validated [`Scenario`].
//!
//! The scenario keys are a user contract (see README "Scenario format"): keep names stable.
//!
//! [`load`] is a pipeline in four steps, each with its own kind of [`ScenarioError`]:
//! 1. parse the text with `toml_edit` (keeps byte spans, so errors can name a line);
//! 2. apply `--set key=value` overrides to the document, remembering which keys they touched;
//! 3. deserialize into the raw structs below (unknown keys, missing keys and wrong types stop here);
//! 4. validate every rule, including cross-field ones, into a [`Scenario`].
//!
//! Every error names the file, the line when known (or "(from --set)" when the key came from an
//! override: the file's line would be a lie), the dotted key (`fault[2].crash`,
//! `ticket[0].submit[1].server`), the bad value and what is allowed. Lines come from looking the
//! key's path up in the document as the user wrote it, not from the text after overrides, whose
//! lines may have moved.

use crate::protocol::{ProtocolKind, ServerId, Time, MSG_KINDS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use toml_edit::{DocumentMut, ImDocument, Item, TableLike, Value};

/// The built-in Table 1 scenario (the same text as scenarios/table1.toml).
pub const BUILTIN_TABLE1: &str = include_str!("../scenarios/table1.toml");

/// The largest cluster a scenario may ask for.
pub const MAX_SERVERS: u16 = 64;
/// The largest δ, in ms: beyond a minute a "delay" is a partition, and runs would take forever.
pub const MAX_DELTA_MS: f64 = 60_000.0;
/// The smallest positive duration, in ms: the clock ticks in µs.
pub const MIN_POSITIVE_MS: f64 = 0.001;
/// The largest duration of any kind, in ms (about 31 years): keeps every sum of times far from
/// `Time::MAX`, so the runtimes can add times without overflow checks.
pub const MAX_MS: f64 = 1e12;

/// Defaults of the optional `[cluster]` keys, in ms.
pub const DEFAULT_DELTA_MS: f64 = 10.0;
pub const DEFAULT_JITTER_MS: f64 = 0.0;
pub const DEFAULT_HEARTBEAT_MS: f64 = 20.0;
pub const DEFAULT_SUSPECT_AFTER_MS: f64 = 100.0;
/// Default of `workload.deadline_ms`.
pub const DEFAULT_DEADLINE_MS: f64 = 5000.0;

/// The id of the `k`-th generated ticket (1-based): "t1".."tN". Scripted ids must not collide.
pub fn generated_ticket_id(k: u64) -> String {
    format!("t{k}")
}

/// How a run executes (`cluster.mode`; `"processes"` when omitted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The deterministic discrete-event simulator.
    Sim,
    /// Real local server processes over TCP on loopback (the default).
    #[default]
    Processes,
}

/// Where generated tickets are submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SubmitTo {
    /// A uniformly random server per ticket (seeded).
    Random,
    /// s_1, s_2, …, s_n, s_1, … in turn.
    RoundRobin,
    /// A uniformly random server from this list per ticket (1-based ids).
    Servers(Vec<ServerId>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cluster {
    /// n, the number of servers.
    pub servers: u16,
    /// Each runs in turn on a fresh cluster with the same workload.
    pub protocols: Vec<ProtocolKind>,
    pub mode: Mode,
    /// Server-to-server message delay δ, in µs (exact).
    pub delta: Time,
    /// Extra uniform delay in [0, jitter] µs per message.
    pub jitter: Time,
    pub heartbeat: Time,
    pub suspect_after: Time,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workload {
    /// Distinct generated tickets.
    pub tickets: u64,
    /// Generated tickets in flight at once (closed loop).
    pub concurrency: u32,
    /// Pause between a decision and the next submission, µs.
    pub think: Time,
    pub submit_to: SubmitTo,
    /// Fraction of generated tickets a malicious user also submits to another server.
    pub duplicates: f64,
    /// Delay between the original and the duplicate submission, µs.
    pub duplicate_gap: Time,
    /// A ticket undecided this long after its last submission is "undecided", µs.
    pub deadline: Time,
    /// Stop issuing generated tickets once one is undecided at its deadline (not a scenario key:
    /// resilience sweeps set it, so a blocked point costs one deadline, not one per ticket).
    #[serde(skip)]
    pub stop_at_first_timeout: bool,
}

impl Default for Workload {
    /// The defaults of an omitted `[workload]`: no generated tickets, one at a time, random servers.
    fn default() -> Self {
        Workload {
            tickets: 0,
            concurrency: 1,
            think: 0,
            submit_to: SubmitTo::Random,
            duplicates: 0.0,
            duplicate_gap: 0,
            deadline: ms_to_us(DEFAULT_DEADLINE_MS),
            stop_at_first_timeout: false,
        }
    }
}

/// One scripted submission of a scripted ticket.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Submission {
    pub server: ServerId,
    pub at: Time,
}

/// A `[[ticket]]` entry: a ticket with explicit submissions (Figures 5 and 6 style).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptedTicket {
    pub id: String,
    pub submit: Vec<Submission>,
}

/// What a `[[fault]]` entry does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum FaultAction {
    /// Crash-stop these servers (in processes mode: kill -9).
    Crash(Vec<ServerId>),
    /// From then on, messages on these links take `delay` µs (instead of δ + jitter).
    Delay {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
        delay: Time,
    },
    /// Stop these servers (SIGSTOP): they handle nothing until resumed; what reaches them waits.
    Pause(Vec<ServerId>),
    /// Resume paused servers (SIGCONT).
    Resume(Vec<ServerId>),
    /// Split the cluster into groups that cannot reach each other until `heal`. Links stay
    /// reliable: messages across the cut wait and are delivered, in order, after the heal.
    Partition(Vec<Vec<ServerId>>),
    /// End every partition and block.
    Heal,
    /// A one-way cut: messages from `from` to `to` wait until `heal`.
    Block {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
    },
    /// Each transmission on these links is lost with probability `rate`; the transport
    /// retransmits after a timeout, so links stay reliable and latency grows.
    Loss {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
        rate: f64,
    },
    /// Force server `by`'s failure detector to suspect `server` for `duration` µs.
    Suspect {
        by: ServerId,
        server: ServerId,
        duration: Time,
    },
}

/// A protocol event at one server that can trigger a fault (`after = {..}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Accept,
    Reject,
    Decide,
    /// A server→server message of this type (e.g. "NEWTKT", "C-PROPOSE").
    Send(String),
}

/// "Right after the `count`-th `event` at `server`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct After {
    pub server: ServerId,
    pub event: EventKind,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    /// When the fault fires (µs since the start); 0 and unused when `after` is set.
    pub at: Time,
    /// Fire on a protocol event instead of at a time (crash only).
    pub after: Option<After>,
    pub action: FaultAction,
}

/// Which servers a resilience sweep crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrashPick {
    /// s_1..s_f: includes s_1, the round-1 consensus coordinator (the harder case).
    First,
    /// s_{n−f+1}..s_n.
    Last,
}

/// `[resilience]`: measure the resilience column by crashing f = 0..=max_f servers at the start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resilience {
    pub max_f: u16,
    pub crash: CrashPick,
}

/// A validated scenario: every cross-field rule holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub seed: Option<u64>,
    pub cluster: Cluster,
    pub workload: Workload,
    pub tickets: Vec<ScriptedTicket>,
    pub faults: Vec<Fault>,
    /// When present, `run` sweeps crashes at the start to measure resilience.
    pub resilience: Option<Resilience>,
}

/// Milliseconds (as written in scenarios) to µs.
pub fn ms_to_us(ms: f64) -> Time {
    (ms * 1000.0).round() as Time
}

// ---------------------------------------------------------------------------------------------
// Errors

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

// ---------------------------------------------------------------------------------------------
// The pipeline

/// Parse `text` (from the file shown to users as `file`), apply `--set key=value` overrides,
/// validate.
pub fn load(file: &str, text: &str, overrides: &[String]) -> Result<Scenario, ScenarioError> {
    // 1. Parse, keeping spans: lines in errors refer to this text.
    let original = ImDocument::parse(text).map_err(|e| syntax_error(file, text, &e))?;

    // 2. Overrides, on a mutable copy; the original keeps its spans for line look-ups.
    let rendered: String;
    let mut set_paths = Vec::new();
    let effective = if overrides.is_empty() {
        original.clone()
    } else {
        let mut doc: DocumentMut = original.clone().into_mut();
        for arg in overrides {
            let path =
                apply_override(&mut doc, arg).map_err(|reason| ScenarioError::BadOverride {
                    file: file.to_string(),
                    arg: arg.clone(),
                    reason,
                })?;
            set_paths.push(path);
        }
        rendered = doc.to_string();
        ImDocument::parse(rendered.as_str()).map_err(|e| ScenarioError::BadOverride {
            file: file.to_string(),
            arg: overrides.join(" "),
            reason: format!(
                "the scenario with these overrides is not valid toml: {}",
                one_line(e.message())
            ),
        })?
    };
    let ctx = Ctx {
        file,
        original: &original,
        set_paths,
    };

    // 3. Raw structs: unknown keys, missing keys and wrong types.
    let raw: RawScenario =
        toml::from_str(effective.raw()).map_err(|e| ctx.schema_error(&effective, &e))?;

    // 4. Every rule.
    ctx.validate(raw)
}

fn syntax_error(file: &str, text: &str, e: &toml_edit::TomlError) -> ScenarioError {
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
fn line_col(text: &str, offset: usize) -> (usize, usize) {
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
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------------------
// Key paths: `cluster.servers`, `fault[2].crash`, `ticket[0].submit[1].server`

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

type Path = Vec<Seg>;

fn display_path(path: &[Seg]) -> String {
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

/// A key path under construction, for validation errors.
#[derive(Clone, Debug, Default)]
struct K(Path);

impl K {
    fn root() -> Self {
        K(Vec::new())
    }
    fn k(&self, key: &str) -> K {
        let mut p = self.0.clone();
        p.push(Seg::Key(key.to_string()));
        K(p)
    }
    fn i(&self, index: usize) -> K {
        let mut p = self.0.clone();
        p.push(Seg::Index(index));
        K(p)
    }
}

impl fmt::Display for K {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&display_path(&self.0))
    }
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
fn lookup(root: &Item, path: &[Seg]) -> (bool, Option<Range<usize>>) {
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
fn path_at(root: &Item, target: &Range<usize>) -> Path {
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
fn apply_override(doc: &mut DocumentMut, arg: &str) -> Result<Path, String> {
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

// ---------------------------------------------------------------------------------------------
// Raw structs: the file's shape, nothing checked beyond types. Integers are i64 (TOML's) and
// times f64 (TOML integers are accepted too), so range rules get the validator's messages.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawScenario {
    name: String,
    seed: Option<i64>,
    cluster: RawCluster,
    #[serde(default)]
    workload: RawWorkload,
    #[serde(default)]
    ticket: Vec<RawTicket>,
    #[serde(default)]
    fault: Vec<RawFault>,
    resilience: Option<RawResilience>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawResilience {
    max_f: Option<i64>,
    crash: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawCluster {
    servers: i64,
    protocols: Vec<String>,
    mode: Option<String>,
    delta_ms: Option<f64>,
    jitter_ms: Option<f64>,
    heartbeat_ms: Option<f64>,
    suspect_after_ms: Option<f64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawWorkload {
    tickets: Option<i64>,
    concurrency: Option<i64>,
    think_ms: Option<f64>,
    /// "random" | "round-robin" | [ids]: checked by the validator.
    submit_to: Option<toml::Value>,
    duplicates: Option<f64>,
    duplicate_gap_ms: Option<f64>,
    deadline_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawTicket {
    id: String,
    submit: Vec<RawSubmission>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { server = .., at_ms = .. }")]
struct RawSubmission {
    server: i64,
    at_ms: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawFault {
    at_ms: Option<f64>,
    after: Option<RawAfter>,
    crash: Option<Vec<i64>>,
    delay: Option<RawDelay>,
    pause: Option<Vec<i64>>,
    resume: Option<Vec<i64>>,
    partition: Option<Vec<Vec<i64>>>,
    heal: Option<bool>,
    block: Option<RawLinks>,
    loss: Option<RawLoss>,
    suspect: Option<RawSuspect>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { server = .., event = .., msg = .., count = .. }"
)]
struct RawAfter {
    server: i64,
    event: String,
    msg: Option<String>,
    count: Option<i64>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { from = .., to = .., ms = .. }"
)]
struct RawDelay {
    /// A server id or a list of them: checked by the validator.
    from: toml::Value,
    to: toml::Value,
    ms: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { from = .., to = .. }")]
struct RawLinks {
    from: toml::Value,
    to: toml::Value,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { from = .., to = .., rate = .. }"
)]
struct RawLoss {
    from: Option<toml::Value>,
    to: Option<toml::Value>,
    rate: f64,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { by = .., server = .., for_ms = .. }"
)]
struct RawSuspect {
    by: i64,
    server: i64,
    for_ms: f64,
}

/// serde's type names as a scenario author knows them.
fn friendly_expected(expected: &str) -> String {
    match expected {
        "i64" => "an integer".to_string(),
        "f64" => "a number".to_string(),
        "a sequence" => "an array".to_string(),
        other => other.to_string(),
    }
}

/// The text between the first backticks after `prefix`, if `message` starts with it.
fn backticked_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.find('`').map(|end| rest[..end].to_string())
}

// ---------------------------------------------------------------------------------------------
// Validation

struct Ctx<'a> {
    file: &'a str,
    /// The document as the user wrote it: lines come from here.
    original: &'a ImDocument<&'a str>,
    /// Keys set by `--set`.
    set_paths: Vec<Path>,
}

/// A number as shown in errors.
fn num(v: f64) -> String {
    format!("{v}")
}

/// A value that may have been defaulted, as shown in errors.
fn shown(v: Option<f64>, default: f64) -> String {
    match v {
        Some(v) => num(v),
        None => format!("{} (default)", num(default)),
    }
}

fn ms_expected(min: f64, max: f64) -> String {
    if min == 0.0 {
        format!("expected milliseconds from 0 to {}", num(max))
    } else if min == MIN_POSITIVE_MS {
        format!("expected milliseconds from 0.001 (1 µs) to {}", num(max))
    } else {
        format!("expected milliseconds from {} to {}", num(min), num(max))
    }
}

fn us_as_ms(us: Time) -> String {
    num(us as f64 / 1000.0)
}

type Res<T> = Result<T, ScenarioError>;

impl Ctx<'_> {
    fn at(&self, path: &[Seg]) -> Location {
        let (exists, span) = lookup(self.original.as_item(), path);
        let from_set = self
            .set_paths
            .iter()
            .any(|set| path.starts_with(set) || (set.starts_with(path) && !exists));
        let line = if from_set || path.is_empty() {
            None
        } else {
            span.map(|s| line_col(self.original.raw(), s.start).0)
        };
        Location {
            file: self.file.to_string(),
            line,
            from_set,
        }
    }

    fn invalid(
        &self,
        path: &K,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::Invalid {
            at: self.at(&path.0),
            key: path.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    fn schema(&self, path: &K, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Schema {
            at: self.at(&path.0),
            key: path.to_string(),
            message: message.into(),
        }
    }

    /// A serde error from the raw structs, located by its span in the effective document.
    fn schema_error(&self, effective: &ImDocument<&str>, e: &toml::de::Error) -> ScenarioError {
        let span = e.span().filter(|s| !s.is_empty());
        let mut path = span
            .as_ref()
            .map(|s| path_at(effective.as_item(), s))
            .unwrap_or_default();
        let message = e.message();
        if let Some(field) = backticked_after(message, "missing field `") {
            path.push(Seg::Key(field));
            return self.schema(&K(path), "missing; this key is required");
        }
        if let Some(field) = backticked_after(message, "unknown field `") {
            if path.last() != Some(&Seg::Key(field.clone())) {
                path.push(Seg::Key(field.clone()));
            }
            let allowed = message
                .split_once("`, ")
                .map_or("", |(_, rest)| rest)
                .replace("there are no fields", "this table takes no keys");
            return self.schema(&K(path), format!("unknown key, {allowed}"));
        }
        if let Some(rest) = message.strip_prefix("invalid type: ") {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                let snippet = span
                    .as_ref()
                    .map(|s| effective.raw()[s.clone()].trim())
                    .filter(|s| !s.contains('\n') && s.len() <= 80);
                let found = found
                    .replace("sequence", "array")
                    .replace("map", "table")
                    .replace("floating point", "float");
                let value = snippet.map_or(found, str::to_string);
                return self.invalid(
                    &K(path),
                    value,
                    format!("expected {}", friendly_expected(expected)),
                );
            }
        }
        self.schema(&K(path), one_line(message))
    }

    /// A duration in ms within [min, max], in µs.
    fn ms(&self, path: &K, v: Option<f64>, default: f64, min: f64, max: f64) -> Res<Time> {
        let x = v.unwrap_or(default);
        if x.is_finite() && x >= min && x <= max {
            Ok(ms_to_us(x))
        } else {
            Err(self.invalid(path, shown(v, default), ms_expected(min, max)))
        }
    }

    fn server(&self, path: &K, v: i64, n: u16) -> Res<ServerId> {
        if (1..=i64::from(n)).contains(&v) {
            Ok(v as ServerId)
        } else {
            Err(self.invalid(path, v, server_expected(n)))
        }
    }

    fn server_value(&self, path: &K, v: &toml::Value, n: u16) -> Res<ServerId> {
        match v {
            toml::Value::Integer(i) => self.server(path, *i, n),
            other => Err(self.invalid(path, other, server_expected(n))),
        }
    }

    /// Server ids, each at most once.
    fn server_list<'v>(
        &self,
        path: &K,
        items: impl IntoIterator<Item = (usize, Result<ServerId, &'v toml::Value>)>,
        n: u16,
    ) -> Res<Vec<ServerId>> {
        let mut out: Vec<ServerId> = Vec::new();
        for (i, item) in items {
            let id = match item {
                Ok(id) => id,
                Err(v) => self.server_value(&path.i(i), v, n)?,
            };
            if let Some(first) = out.iter().position(|&s| s == id) {
                return Err(self.invalid(
                    &path.i(i),
                    id,
                    format!("expected each server at most once ({path}[{first}] is already {id})"),
                ));
            }
            out.push(id);
        }
        Ok(out)
    }

    /// A server id or a non-empty list of them (`delay.from`, `delay.to`).
    fn server_or_list(&self, path: &K, v: &toml::Value, n: u16) -> Res<Vec<ServerId>> {
        let expected = || format!("expected a server id from 1 to {n} or a non-empty list of them");
        match v {
            toml::Value::Integer(i) => Ok(vec![self.server(path, *i, n)?]),
            toml::Value::Array(a) if !a.is_empty() => {
                self.server_list(path, a.iter().map(Err).enumerate(), n)
            }
            other => Err(self.invalid(path, other, expected())),
        }
    }

    fn validate(&self, raw: RawScenario) -> Res<Scenario> {
        let root = K::root();

        let name_ok = !raw.name.is_empty()
            && raw.name != "."
            && raw.name != ".."
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !name_ok {
            return Err(self.invalid(
                &root.k("name"),
                format!("{:?}", raw.name),
                "expected a non-empty name of letters, digits, '.', '_' and '-', other than '.' \
                 and '..' (it names the results folder)",
            ));
        }

        let seed = match raw.seed {
            None => None,
            Some(s) if s >= 0 => Some(s as u64),
            Some(s) => return Err(self.invalid(&root.k("seed"), s, "expected an integer >= 0")),
        };

        let cluster = self.cluster(&raw.cluster)?;
        let n = cluster.servers;
        let workload = self.workload(&raw.workload, n)?;
        let tickets = self.tickets(&raw.ticket, n, workload.tickets)?;
        let faults = self.faults(&raw.fault, n)?;
        let resilience = self.resilience(&raw.resilience, n)?;
        if resilience.is_some() {
            if let Some(i) = faults
                .iter()
                .position(|f| matches!(f.action, FaultAction::Crash(_)))
            {
                return Err(self.schema(
                    &root.k("fault").i(i).k("crash"),
                    "a [resilience] sweep crashes servers itself (f = 0..max_f at the start); \
                     remove crash faults from this scenario",
                ));
            }
        }

        if workload.tickets == 0 && tickets.is_empty() {
            return Err(self.invalid(
                &root.k("workload").k("tickets"),
                if raw.workload.tickets.is_some() {
                    "0"
                } else {
                    "0 (default)"
                },
                "expected at least 1 ticket in total (workload.tickets plus [[ticket]] entries)",
            ));
        }

        Ok(Scenario {
            name: raw.name,
            seed,
            cluster,
            workload,
            tickets,
            faults,
            resilience,
        })
    }

    fn cluster(&self, raw: &RawCluster) -> Res<Cluster> {
        let c = K::root().k("cluster");

        if !(1..=i64::from(MAX_SERVERS)).contains(&raw.servers) {
            return Err(self.invalid(
                &c.k("servers"),
                raw.servers,
                format!("expected an integer from 1 to {MAX_SERVERS}"),
            ));
        }
        let servers = raw.servers as u16;

        let names = ProtocolKind::ALL
            .iter()
            .map(|k| format!("{:?}", k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        if raw.protocols.is_empty() {
            return Err(self.invalid(
                &c.k("protocols"),
                "[]",
                format!("expected a non-empty list of protocols from {names}"),
            ));
        }
        let mut protocols = Vec::new();
        for (i, name) in raw.protocols.iter().enumerate() {
            let key = c.k("protocols").i(i);
            let Some(kind) = ProtocolKind::from_name(name) else {
                return Err(self.invalid(
                    &key,
                    format!("{name:?}"),
                    format!("expected one of {names}"),
                ));
            };
            if let Some(first) = protocols.iter().position(|&p| p == kind) {
                return Err(self.invalid(
                    &key,
                    format!("{name:?}"),
                    format!("expected each protocol at most once (cluster.protocols[{first}] is already {name:?})"),
                ));
            }
            protocols.push(kind);
        }

        let mode = match raw.mode.as_deref() {
            Some("sim") => Mode::Sim,
            None | Some("processes") => Mode::Processes,
            Some(other) => {
                return Err(self.invalid(
                    &c.k("mode"),
                    format!("{other:?}"),
                    "expected \"sim\" or \"processes\"",
                ))
            }
        };

        let delta = self.ms(
            &c.k("delta_ms"),
            raw.delta_ms,
            DEFAULT_DELTA_MS,
            MIN_POSITIVE_MS,
            MAX_DELTA_MS,
        )?;
        let jitter = self.ms(
            &c.k("jitter_ms"),
            raw.jitter_ms,
            DEFAULT_JITTER_MS,
            0.0,
            MAX_MS,
        )?;
        let heartbeat = self.ms(
            &c.k("heartbeat_ms"),
            raw.heartbeat_ms,
            DEFAULT_HEARTBEAT_MS,
            MIN_POSITIVE_MS,
            MAX_MS,
        )?;
        let suspect_key = c.k("suspect_after_ms");
        let suspect_after = self.ms(
            &suspect_key,
            raw.suspect_after_ms,
            DEFAULT_SUSPECT_AFTER_MS,
            MIN_POSITIVE_MS,
            MAX_MS,
        )?;
        // A correct server's heartbeat can arrive as late as heartbeat + δ + jitter after the
        // previous one: a timeout at or below that suspects correct servers all the time.
        let bound = heartbeat + delta + jitter;
        if suspect_after <= bound {
            return Err(self.invalid(
                &suspect_key,
                shown(raw.suspect_after_ms, DEFAULT_SUSPECT_AFTER_MS),
                format!(
                    "expected more than heartbeat_ms + delta_ms + jitter_ms = {} + {} + {} = {} \
                     (a heartbeat can arrive that late, so a shorter timeout suspects correct \
                     servers all the time)",
                    us_as_ms(heartbeat),
                    us_as_ms(delta),
                    us_as_ms(jitter),
                    us_as_ms(bound)
                ),
            ));
        }

        Ok(Cluster {
            servers,
            protocols,
            mode,
            delta,
            jitter,
            heartbeat,
            suspect_after,
        })
    }

    fn workload(&self, raw: &RawWorkload, n: u16) -> Res<Workload> {
        let w = K::root().k("workload");
        let defaults = Workload::default();

        let tickets = match raw.tickets {
            None => defaults.tickets,
            Some(t) if t >= 0 => t as u64,
            Some(t) => return Err(self.invalid(&w.k("tickets"), t, "expected an integer >= 0")),
        };
        let concurrency = match raw.concurrency {
            None => defaults.concurrency,
            Some(c) if c >= 1 && c <= i64::from(u32::MAX) => c as u32,
            Some(c) => {
                return Err(self.invalid(
                    &w.k("concurrency"),
                    c,
                    format!("expected an integer from 1 to {}", u32::MAX),
                ))
            }
        };
        let think = self.ms(&w.k("think_ms"), raw.think_ms, 0.0, 0.0, MAX_MS)?;

        let submit_key = w.k("submit_to");
        let submit_expected = || {
            format!(
                "expected \"random\", \"round-robin\" or a non-empty list of server ids from 1 to {n}"
            )
        };
        let submit_to =
            match &raw.submit_to {
                None => defaults.submit_to,
                Some(toml::Value::String(s)) if s == "random" => SubmitTo::Random,
                Some(toml::Value::String(s)) if s == "round-robin" => SubmitTo::RoundRobin,
                Some(toml::Value::Array(a)) if !a.is_empty() => SubmitTo::Servers(
                    self.server_list(&submit_key, a.iter().map(Err).enumerate(), n)?,
                ),
                Some(other) => return Err(self.invalid(&submit_key, other, submit_expected())),
            };

        let dup_key = w.k("duplicates");
        let duplicates = raw.duplicates.unwrap_or(defaults.duplicates);
        if !(duplicates.is_finite() && (0.0..=1.0).contains(&duplicates)) {
            return Err(self.invalid(&dup_key, num(duplicates), "expected a fraction from 0 to 1"));
        }
        if duplicates > 0.0 && n < 2 {
            return Err(self.invalid(
                &dup_key,
                num(duplicates),
                format!(
                    "expected 0 with cluster.servers = {n}: a duplicate goes to another server, so \
                     duplicates need at least 2 servers"
                ),
            ));
        }
        let duplicate_gap = self.ms(
            &w.k("duplicate_gap_ms"),
            raw.duplicate_gap_ms,
            0.0,
            0.0,
            MAX_MS,
        )?;
        let deadline = self.ms(
            &w.k("deadline_ms"),
            raw.deadline_ms,
            DEFAULT_DEADLINE_MS,
            MIN_POSITIVE_MS,
            MAX_MS,
        )?;

        Ok(Workload {
            tickets,
            concurrency,
            think,
            submit_to,
            duplicates,
            duplicate_gap,
            deadline,
            stop_at_first_timeout: false,
        })
    }

    fn tickets(&self, raw: &[RawTicket], n: u16, generated: u64) -> Res<Vec<ScriptedTicket>> {
        let mut out: Vec<ScriptedTicket> = Vec::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, t) in raw.iter().enumerate() {
            let entry = K::root().k("ticket").i(i);
            let id_key = entry.k("id");
            if t.id.is_empty() {
                return Err(self.invalid(&id_key, "\"\"", "expected a non-empty ticket id"));
            }
            if let Some(first) = seen.insert(&t.id, i) {
                return Err(self.invalid(
                    &id_key,
                    format!("{:?}", t.id),
                    format!("expected an id unique among [[ticket]] entries (ticket[{first}] has it too)"),
                ));
            }
            if let Some(k) = generated_index(&t.id).filter(|&k| k <= generated) {
                return Err(self.invalid(
                    &id_key,
                    format!("{:?}", t.id),
                    format!(
                        "expected an id other than t1..t{generated}: those are the generated \
                         tickets (workload.tickets = {generated}), and {} is one of them",
                        generated_ticket_id(k)
                    ),
                ));
            }
            let submit_key = entry.k("submit");
            if t.submit.is_empty() {
                return Err(self.invalid(
                    &submit_key,
                    "[]",
                    "expected at least one submission { server = .., at_ms = .. }",
                ));
            }
            let mut submit = Vec::new();
            for (j, s) in t.submit.iter().enumerate() {
                let s_key = submit_key.i(j);
                let server = self.server(&s_key.k("server"), s.server, n)?;
                let at = self.ms(&s_key.k("at_ms"), Some(s.at_ms), 0.0, 0.0, MAX_MS)?;
                submit.push(Submission { server, at });
            }
            out.push(ScriptedTicket {
                id: t.id.clone(),
                submit,
            });
        }
        Ok(out)
    }

    /// Links `from` → `to` (each a server id or a list), with no server linked to itself.
    fn links(
        &self,
        key: &K,
        from: Option<&toml::Value>,
        to: Option<&toml::Value>,
        n: u16,
    ) -> Res<(Vec<ServerId>, Vec<ServerId>)> {
        let all: Vec<ServerId> = (1..=n).collect();
        let from_given = from;
        let from = match from {
            Some(v) => self.server_or_list(&key.k("from"), v, n)?,
            None => all.clone(),
        };
        let to_list = match to {
            Some(v) => self.server_or_list(&key.k("to"), v, n)?,
            None => all,
        };
        if let (Some(v), Some(_)) = (to, from_given) {
            let from_set: BTreeSet<ServerId> = from.iter().copied().collect();
            if let Some(&s) = to_list.iter().find(|s| from_set.contains(s)) {
                return Err(self.invalid(
                    &key.k("to"),
                    v,
                    format!(
                        "expected servers other than those in {key}.from: {s} is in both, and a \
                         link from {s} to itself is not a link"
                    ),
                ));
            }
        }
        Ok((from, to_list))
    }

    /// A non-empty list of distinct servers.
    fn servers(&self, key: &K, list: &[i64], n: u16) -> Res<Vec<ServerId>> {
        if list.is_empty() {
            return Err(self.invalid(
                key,
                "[]",
                format!("expected a non-empty list of server ids from 1 to {n}"),
            ));
        }
        let mut ids = Vec::new();
        for (j, &s) in list.iter().enumerate() {
            ids.push((j, Ok(self.server(&key.i(j), s, n)?)));
        }
        self.server_list(key, ids, n)
    }

    fn after(&self, key: &K, a: &RawAfter, n: u16) -> Res<After> {
        let server = self.server(&key.k("server"), a.server, n)?;
        let event = match (a.event.as_str(), &a.msg) {
            ("accept", None) => EventKind::Accept,
            ("reject", None) => EventKind::Reject,
            ("decide", None) => EventKind::Decide,
            ("send", Some(m)) if MSG_KINDS.contains(&m.as_str()) => EventKind::Send(m.clone()),
            ("send", Some(m)) => {
                return Err(self.invalid(
                    &key.k("msg"),
                    format!("{m:?}"),
                    format!("expected a message type, one of {}", MSG_KINDS.join(", ")),
                ))
            }
            ("send", None) => {
                return Err(self.schema(
                    &key.k("msg"),
                    "missing; event = \"send\" needs msg = a message type, e.g. \"NEWTKT\"",
                ))
            }
            ("accept" | "reject" | "decide", Some(_)) => {
                return Err(self.schema(&key.k("msg"), "only goes with event = \"send\""))
            }
            (other, _) => {
                return Err(self.invalid(
                    &key.k("event"),
                    format!("{other:?}"),
                    "expected \"accept\", \"reject\", \"decide\" or \"send\"",
                ))
            }
        };
        let count = match a.count {
            None => 1,
            Some(c) if (1..=i64::from(u32::MAX)).contains(&c) => c as u32,
            Some(c) => return Err(self.invalid(&key.k("count"), c, "expected an integer >= 1")),
        };
        Ok(After {
            server,
            event,
            count,
        })
    }

    fn faults(&self, raw: &[RawFault], n: u16) -> Res<Vec<Fault>> {
        let mut out = Vec::new();
        // Server → the fault that crashes it.
        let mut crashed: BTreeMap<ServerId, usize> = BTreeMap::new();
        for (i, f) in raw.iter().enumerate() {
            let entry = K::root().k("fault").i(i);
            let (at, after) = match (&f.at_ms, &f.after) {
                (Some(ms), None) => (
                    self.ms(&entry.k("at_ms"), Some(*ms), 0.0, 0.0, MAX_MS)?,
                    None,
                ),
                (None, Some(a)) => (0, Some(self.after(&entry.k("after"), a, n)?)),
                (Some(_), Some(_)) => {
                    return Err(self.schema(
                        &entry.k("after"),
                        "expected either at_ms (a time) or after (an event), not both",
                    ))
                }
                (None, None) => return Err(self.schema(
                    &entry.k("at_ms"),
                    "missing; a fault needs at_ms = <time> or after = { server = .., event = .. }",
                )),
            };
            let actions = [
                f.crash.is_some(),
                f.delay.is_some(),
                f.pause.is_some(),
                f.resume.is_some(),
                f.partition.is_some(),
                f.heal.is_some(),
                f.block.is_some(),
                f.loss.is_some(),
                f.suspect.is_some(),
            ];
            let count = actions.iter().filter(|a| **a).count();
            if count != 1 {
                return Err(self.schema(
                    &entry,
                    format!(
                        "expected exactly one action besides at_ms/after: crash, delay, pause, \
                         resume, partition, heal, block, loss or suspect (found {})",
                        if count == 0 {
                            "none".to_string()
                        } else {
                            count.to_string()
                        }
                    ),
                ));
            }
            let action = if let Some(crash) = &f.crash {
                let key = entry.k("crash");
                let ids = self.servers(&key, crash, n)?;
                for (j, &s) in ids.iter().enumerate() {
                    if let Some(other) = crashed.insert(s, i) {
                        return Err(self.invalid(
                            &key.i(j),
                            s,
                            format!(
                                "expected each server crashed by at most one fault (fault[{other}] \
                                 already crashes server {s})"
                            ),
                        ));
                    }
                }
                FaultAction::Crash(ids)
            } else if let Some(d) = &f.delay {
                let key = entry.k("delay");
                let (from, to) = self.links(&key, Some(&d.from), Some(&d.to), n)?;
                let delay = self.ms(&key.k("ms"), Some(d.ms), 0.0, 0.0, MAX_MS)?;
                FaultAction::Delay { from, to, delay }
            } else if let Some(p) = &f.pause {
                FaultAction::Pause(self.servers(&entry.k("pause"), p, n)?)
            } else if let Some(p) = &f.resume {
                FaultAction::Resume(self.servers(&entry.k("resume"), p, n)?)
            } else if let Some(groups) = &f.partition {
                let key = entry.k("partition");
                let mut seen: BTreeMap<ServerId, usize> = BTreeMap::new();
                let mut out_groups = Vec::new();
                for (g, group) in groups.iter().enumerate() {
                    let ids = self.servers(&key.i(g), group, n)?;
                    for (j, &s) in ids.iter().enumerate() {
                        if let Some(other) = seen.insert(s, g) {
                            return Err(self.invalid(
                                &key.i(g).i(j),
                                s,
                                format!("expected groups that do not overlap ({key}[{other}] already holds {s})"),
                            ));
                        }
                    }
                    out_groups.push(ids);
                }
                if out_groups.len() < 2 {
                    return Err(self.invalid(
                        &key,
                        format!("{groups:?}"),
                        "expected at least two groups, e.g. [[1, 2], [3, 4, 5]]",
                    ));
                }
                if let Some(missing) = (1..=n).find(|s| !seen.contains_key(s)) {
                    return Err(self.invalid(
                        &key,
                        format!("{groups:?}"),
                        format!("expected every server in exactly one group: server {missing} is in none"),
                    ));
                }
                FaultAction::Partition(out_groups)
            } else if let Some(h) = f.heal {
                if !h {
                    return Err(self.invalid(&entry.k("heal"), h, "expected heal = true"));
                }
                FaultAction::Heal
            } else if let Some(b) = &f.block {
                let (from, to) = self.links(&entry.k("block"), Some(&b.from), Some(&b.to), n)?;
                FaultAction::Block { from, to }
            } else if let Some(l) = &f.loss {
                let key = entry.k("loss");
                let (from, to) = self.links(&key, l.from.as_ref(), l.to.as_ref(), n)?;
                if !(l.rate.is_finite() && (0.0..0.95).contains(&l.rate)) {
                    return Err(self.invalid(
                        &key.k("rate"),
                        num(l.rate),
                        "expected a loss probability from 0 to 0.95 (links stay reliable: lost \
                         transmissions are retransmitted)",
                    ));
                }
                FaultAction::Loss {
                    from,
                    to,
                    rate: l.rate,
                }
            } else if let Some(sus) = &f.suspect {
                let key = entry.k("suspect");
                let by = self.server(&key.k("by"), sus.by, n)?;
                let server = self.server(&key.k("server"), sus.server, n)?;
                if by == server {
                    return Err(self.invalid(
                        &key.k("server"),
                        server,
                        format!("expected a server other than by = {by} (a server never suspects itself)"),
                    ));
                }
                let duration = self.ms(
                    &key.k("for_ms"),
                    Some(sus.for_ms),
                    0.0,
                    MIN_POSITIVE_MS,
                    MAX_MS,
                )?;
                FaultAction::Suspect {
                    by,
                    server,
                    duration,
                }
            } else {
                unreachable!("exactly one action was checked above")
            };
            if after.is_some() && !matches!(action, FaultAction::Crash(_)) {
                return Err(self.schema(
                    &entry.k("after"),
                    "only crash faults can fire on an event; use at_ms for the others",
                ));
            }
            out.push(Fault { at, after, action });
        }
        self.fault_timeline(raw, &out)?;
        Ok(out)
    }

    /// Rules that depend on the order of timed faults: resume only a paused server, heal only
    /// a cut, one partition at a time, nothing done to a server after it crashed.
    fn fault_timeline(&self, raw: &[RawFault], faults: &[Fault]) -> Res<()> {
        let mut order: Vec<usize> = (0..faults.len())
            .filter(|&i| faults[i].after.is_none())
            .collect();
        order.sort_by_key(|&i| faults[i].at);
        let mut paused: BTreeMap<ServerId, usize> = BTreeMap::new();
        let mut crashed: BTreeMap<ServerId, usize> = BTreeMap::new();
        let mut partition: Option<usize> = None;
        let mut blocked = false;
        for i in order {
            let entry = K::root().k("fault").i(i);
            let _ = &raw[i];
            match &faults[i].action {
                FaultAction::Crash(ids) => {
                    for s in ids {
                        crashed.insert(*s, i);
                        paused.remove(s);
                    }
                }
                FaultAction::Pause(ids) => {
                    for (j, s) in ids.iter().enumerate() {
                        if let Some(c) = crashed.get(s) {
                            return Err(self.invalid(&entry.k("pause").i(j), s, format!("expected a live server (fault[{c}] crashed server {s} earlier)")));
                        }
                        if let Some(p) = paused.insert(*s, i) {
                            return Err(self.invalid(&entry.k("pause").i(j), s, format!("expected a running server (fault[{p}] already paused server {s}; resume it first)")));
                        }
                    }
                }
                FaultAction::Resume(ids) => {
                    for (j, s) in ids.iter().enumerate() {
                        if paused.remove(s).is_none() {
                            return Err(self.invalid(&entry.k("resume").i(j), s, format!("expected a paused server (server {s} is not paused at that time)")));
                        }
                    }
                }
                FaultAction::Partition(_) => {
                    if let Some(p) = partition {
                        return Err(self.schema(
                            &entry.k("partition"),
                            format!("a partition is already in force (fault[{p}]); heal it first"),
                        ));
                    }
                    partition = Some(i);
                }
                FaultAction::Block { .. } => blocked = true,
                FaultAction::Heal => {
                    if partition.is_none() && !blocked {
                        return Err(self.schema(
                            &entry.k("heal"),
                            "nothing to heal: no partition or block is in force at that time",
                        ));
                    }
                    partition = None;
                    blocked = false;
                }
                FaultAction::Suspect { by, server, .. } => {
                    for (name, s) in [("by", by), ("server", server)] {
                        if let Some(c) = crashed.get(s).filter(|_| name == "by") {
                            return Err(self.invalid(&entry.k("suspect").k(name), s, format!("expected a live server (fault[{c}] crashed server {s} earlier)")));
                        }
                    }
                }
                FaultAction::Delay { .. } | FaultAction::Loss { .. } => {}
            }
        }
        Ok(())
    }

    fn resilience(&self, raw: &Option<RawResilience>, n: u16) -> Res<Option<Resilience>> {
        let Some(r) = raw else { return Ok(None) };
        let key = K::root().k("resilience");
        let max_f = match r.max_f {
            None => n.div_ceil(2).min(n - 1),
            Some(f) if (0..i64::from(n)).contains(&f) => f as u16,
            Some(f) => {
                return Err(self.invalid(
                    &key.k("max_f"),
                    f,
                    format!(
                        "expected an integer from 0 to {} (fewer than cluster.servers = {n})",
                        n - 1
                    ),
                ))
            }
        };
        let crash = match r.crash.as_deref() {
            None | Some("first") => CrashPick::First,
            Some("last") => CrashPick::Last,
            Some(other) => {
                return Err(self.invalid(
                    &key.k("crash"),
                    format!("{other:?}"),
                    "expected \"first\" (s1..sf, with the consensus coordinator) or \"last\" (the highest ids)",
                ))
            }
        };
        Ok(Some(Resilience { max_f, crash }))
    }
}

fn server_expected(n: u16) -> String {
    format!("expected a server id from 1 to {n} (cluster.servers = {n})")
}

/// `k` if `id` is exactly `generated_ticket_id(k)` for some k >= 1.
fn generated_index(id: &str) -> Option<u64> {
    let digits = id.strip_prefix('t')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete scenario with every key on a known line (1-based), for the rule tests.
    const BASE: &str = r#"name = "base"
seed = 7
[cluster]
servers = 5
protocols = ["2pe", "se-ct"]
mode = "sim"
delta_ms = 10.0
jitter_ms = 0.0
heartbeat_ms = 20.0
suspect_after_ms = 100.0
[workload]
tickets = 10
concurrency = 1
think_ms = 0.0
submit_to = "random"
duplicates = 0.0
duplicate_gap_ms = 0.0
deadline_ms = 5000.0
"#;

    /// BASE with the line starting with `prefix` replaced by `line`.
    fn edit(prefix: &str, line: &str) -> String {
        let mut found = false;
        let out: Vec<&str> = BASE
            .lines()
            .map(|l| {
                if l.starts_with(prefix) && !found {
                    found = true;
                    line
                } else {
                    l
                }
            })
            .collect();
        assert!(found, "no line starts with {prefix:?}");
        out.join("\n") + "\n"
    }

    /// BASE plus `extra` lines at the end (line 19 onwards).
    fn append(extra: &str) -> String {
        format!("{BASE}{extra}")
    }

    fn load_ok(text: &str) -> Scenario {
        load("test.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn load_err(text: &str, overrides: &[&str]) -> ScenarioError {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        match load("test.toml", text, &overrides) {
            Ok(s) => panic!("expected an error, got {s:?}"),
            Err(e) => e,
        }
    }

    /// The error names `key` at `line` of test.toml (and starts with exactly that).
    fn assert_err_at(e: &ScenarioError, line: usize, key: &str) {
        let msg = e.to_string();
        let want = format!("test.toml:{line}: {key}");
        assert!(
            msg.starts_with(&want),
            "{msg:?} does not start with {want:?}"
        );
        assert_eq!(e.key(), Some(key), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
    }

    fn with_set(text: &str, overrides: &[&str]) -> Result<Scenario, ScenarioError> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        load("test.toml", text, &overrides)
    }

    // ---- loading and defaults

    #[test]
    fn builtin_table1_loads() {
        let s = load("table1.toml", BUILTIN_TABLE1, &[]).unwrap();
        assert_eq!(s.name, "table1");
        assert_eq!(s.seed, Some(42));
        assert_eq!(s.cluster.servers, 5);
        assert_eq!(s.cluster.protocols, ProtocolKind::TABLE1.to_vec());
        assert_eq!(s.cluster.mode, Mode::Processes);
        assert_eq!(s.cluster.delta, 10_000);
        assert_eq!(s.cluster.suspect_after, 100_000);
        assert_eq!(s.workload.tickets, 100);
        assert_eq!(s.workload.submit_to, SubmitTo::RoundRobin);
        assert_eq!(s.workload.deadline, 5_000_000);
        assert!(s.tickets.is_empty());
        assert!(s.faults.is_empty());
    }

    #[test]
    fn base_loads() {
        let s = load_ok(BASE);
        assert_eq!(s.name, "base");
    }

    #[test]
    fn minimal_scenario_gets_the_defaults() {
        let s = load_ok(
            "name = \"m\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\n[workload]\ntickets = 4\n",
        );
        assert_eq!(s.seed, None);
        assert_eq!(
            s.cluster,
            Cluster {
                servers: 3,
                protocols: vec![ProtocolKind::TwoPe],
                mode: Mode::Processes,
                delta: 10_000,
                jitter: 0,
                heartbeat: 20_000,
                suspect_after: 100_000,
            }
        );
        assert_eq!(
            s.workload,
            Workload {
                tickets: 4,
                ..Workload::default()
            }
        );
        assert_eq!(s.workload.concurrency, 1);
        assert_eq!(s.workload.submit_to, SubmitTo::Random);
        assert_eq!(s.workload.deadline, 5_000_000);
    }

    #[test]
    fn integers_are_accepted_for_milliseconds() {
        let s = load_ok(&edit("delta_ms", "delta_ms = 3"));
        assert_eq!(s.cluster.delta, 3_000);
        let s = load_ok(&edit("delta_ms", "delta_ms = 0.25"));
        assert_eq!(s.cluster.delta, 250);
    }

    #[test]
    fn scripted_tickets_and_faults_load_in_file_order() {
        let s = load_ok(&append(
            r#"[[ticket]]
id = "tau"
submit = [{ server = 1, at_ms = 0.0 }, { server = 5, at_ms = 25 }, { server = 1, at_ms = 30 }]
[[fault]]
at_ms = 100.0
crash = [3]
[[fault]]
at_ms = 50
delay = { from = 2, to = [1, 4], ms = 15.0 }
"#,
        ));
        assert_eq!(
            s.tickets,
            vec![ScriptedTicket {
                id: "tau".into(),
                submit: vec![
                    Submission { server: 1, at: 0 },
                    Submission {
                        server: 5,
                        at: 25_000
                    },
                    Submission {
                        server: 1,
                        at: 30_000
                    },
                ],
            }]
        );
        assert_eq!(
            s.faults,
            vec![
                Fault {
                    at: 100_000,
                    after: None,
                    action: FaultAction::Crash(vec![3]),
                },
                Fault {
                    at: 50_000,
                    after: None,
                    action: FaultAction::Delay {
                        from: vec![2],
                        to: vec![1, 4],
                        delay: 15_000,
                    },
                },
            ]
        );
    }

    #[test]
    fn scripted_tickets_alone_are_enough() {
        let s = load_ok(
            &append("[[ticket]]\nid = \"x\"\nsubmit = [{ server = 2, at_ms = 0 }]\n")
                .replace("tickets = 10", "tickets = 0"),
        );
        assert_eq!(s.workload.tickets, 0);
        assert_eq!(s.tickets.len(), 1);
    }

    #[test]
    fn workload_may_be_omitted_when_tickets_are_scripted() {
        let s = load_ok(
            "name = \"w\"\n[cluster]\nservers = 2\nprotocols = [\"se-ct\"]\n\
             [[ticket]]\nid = \"a\"\nsubmit = [{ server = 2, at_ms = 0 }]\n",
        );
        assert_eq!(s.workload, Workload::default());
    }

    // ---- overrides

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
            "test.toml (from --set): cluster.servers = 0: expected an integer from 1 to 64"
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

    // ---- unknown keys, wrong types, syntax

    #[test]
    fn unknown_key_in_file() {
        let e = load_err(&edit("think_ms", "think = 1"), &[]);
        assert_err_at(&e, 14, "workload.think");
        assert!(
            e.to_string().contains("unknown key, expected one of"),
            "{e}"
        );
        assert!(e.to_string().contains("`think_ms`"), "{e}");
    }

    #[test]
    fn unknown_key_in_an_inline_table() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 1, to = 2, ms = 1, x = 3 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.x");
    }

    #[test]
    fn unknown_top_level_table() {
        let e = load_err(&append("[faults]\nat_ms = 1\n"), &[]);
        assert_err_at(&e, 19, "faults");
    }

    #[test]
    fn wrong_type_in_file() {
        let e = load_err(&edit("servers", "servers = \"five\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:4: cluster.servers = \"five\": expected an integer"
        );
        let e = load_err(&edit("delta_ms", "delta_ms = \"10\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:7: cluster.delta_ms = \"10\": expected a number"
        );
        let e = load_err(&edit("servers", "servers = 2.5"), &[]);
        assert_err_at(&e, 4, "cluster.servers");
        let e = load_err(&edit("protocols", "protocols = [\"2pe\", 3]"), &[]);
        assert_err_at(&e, 5, "cluster.protocols[1]");
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = 3\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash");
        assert!(e.to_string().ends_with("expected an array"), "{e}");
    }

    #[test]
    fn missing_required_keys() {
        let e = load_err(&edit("servers", "# no servers"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:3: cluster.servers: missing; this key is required"
        );
        let e = load_err(&edit("name", "# no name"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml: name: missing; this key is required"
        );
        let e = load_err(&append("[[fault]]\ncrash = [1]\n"), &[]);
        assert_err_at(&e, 19, "fault[0].at_ms");
    }

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

    // ---- one test per validation rule

    #[test]
    fn rule_name_non_empty() {
        assert_err_at(&load_err(&edit("name", "name = \"\""), &[]), 1, "name");
    }

    #[test]
    fn rule_name_is_a_folder_name() {
        let e = load_err(&edit("name", "name = \"a/b\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:1: name = \"a/b\": expected a non-empty name of letters, digits, '.', '_' \
             and '-', other than '.' and '..' (it names the results folder)"
        );
        assert_err_at(&load_err(&edit("name", "name = \"..\""), &[]), 1, "name");
        assert_err_at(&load_err(&edit("name", "name = \"a b\""), &[]), 1, "name");
        assert_eq!(
            load_ok(&edit("name", "name = \"Run-1.2_x\"")).name,
            "Run-1.2_x"
        );
    }

    #[test]
    fn rule_seed_non_negative() {
        assert_err_at(&load_err(&edit("seed", "seed = -1"), &[]), 2, "seed");
        assert_eq!(load_ok(&edit("seed", "seed = 0")).seed, Some(0));
        assert_eq!(load_ok(&edit("seed", "# no seed")).seed, None);
    }

    #[test]
    fn rule_servers_from_1_to_64() {
        let e = load_err(&edit("servers", "servers = 0"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:4: cluster.servers = 0: expected an integer from 1 to 64"
        );
        assert_err_at(
            &load_err(&edit("servers", "servers = 65"), &[]),
            4,
            "cluster.servers",
        );
        assert_err_at(
            &load_err(&edit("servers", "servers = 99999999999"), &[]),
            4,
            "cluster.servers",
        );
        assert_eq!(
            load_ok(&edit("servers", "servers = 64")).cluster.servers,
            64
        );
    }

    #[test]
    fn rule_protocols_non_empty() {
        assert_err_at(
            &load_err(&edit("protocols", "protocols = []"), &[]),
            5,
            "cluster.protocols",
        );
    }

    #[test]
    fn rule_protocols_known_names() {
        let e = load_err(&edit("protocols", "protocols = [\"2pe\", \"paxos\"]"), &[]);
        let want = format!(
            "test.toml:5: cluster.protocols[1] = \"paxos\": expected one of {}",
            ProtocolKind::ALL
                .iter()
                .map(|p| format!("{:?}", p.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(e.to_string(), want);
        assert!(want.contains("\"se-gb\""));
    }

    #[test]
    fn rule_protocols_no_duplicates() {
        let e = load_err(
            &edit("protocols", "protocols = [\"2pe\", \"se-ct\", \"2pe\"]"),
            &[],
        );
        assert_err_at(&e, 5, "cluster.protocols[2]");
        assert!(e.to_string().contains("at most once"), "{e}");
    }

    #[test]
    fn rule_mode() {
        let e = load_err(&edit("mode", "mode = \"threads\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:6: cluster.mode = \"threads\": expected \"sim\" or \"processes\""
        );
    }

    #[test]
    fn rule_delta_range() {
        for bad in ["0", "0.0", "-1", "0.0009", "60000.5", "nan", "inf"] {
            let e = load_err(&edit("delta_ms", &format!("delta_ms = {bad}")), &[]);
            assert_err_at(&e, 7, "cluster.delta_ms");
            assert!(e.to_string().contains("from 0.001 (1 µs) to 60000"), "{e}");
        }
        assert_eq!(
            load_ok(&edit("delta_ms", "delta_ms = 0.001")).cluster.delta,
            1
        );
        // δ = 60 s needs a larger failure-detector timeout to stay valid.
        let text = edit("delta_ms", "delta_ms = 60000")
            .replace("suspect_after_ms = 100.0", "suspect_after_ms = 70000");
        assert_eq!(load_ok(&text).cluster.delta, 60_000_000);
    }

    #[test]
    fn rule_jitter_non_negative() {
        assert_err_at(
            &load_err(&edit("jitter_ms", "jitter_ms = -0.5"), &[]),
            8,
            "cluster.jitter_ms",
        );
    }

    #[test]
    fn rule_heartbeat_positive() {
        assert_err_at(
            &load_err(&edit("heartbeat_ms", "heartbeat_ms = 0"), &[]),
            9,
            "cluster.heartbeat_ms",
        );
    }

    #[test]
    fn rule_suspect_after_exceeds_heartbeat_delta_jitter() {
        let e = load_err(&edit("suspect_after_ms", "suspect_after_ms = 30"), &[]);
        assert_err_at(&e, 10, "cluster.suspect_after_ms");
        let msg = e.to_string();
        assert!(
            msg.contains("heartbeat_ms + delta_ms + jitter_ms = 20 + 10 + 0 = 30"),
            "{msg}"
        );
        assert!(
            msg.contains("suspects correct servers all the time"),
            "{msg}"
        );
        assert_eq!(
            load_ok(&edit("suspect_after_ms", "suspect_after_ms = 30.001"))
                .cluster
                .suspect_after,
            30_001
        );
        // With the default timeout, the key is not in the file: point at [cluster], say "default".
        let e = load_err(
            &edit("suspect_after_ms", "# default")
                .replace("heartbeat_ms = 20.0", "heartbeat_ms = 95"),
            &[],
        );
        assert_err_at(&e, 3, "cluster.suspect_after_ms");
        assert!(e.to_string().contains("= 100 (default)"), "{e}");
    }

    #[test]
    fn rule_tickets_non_negative() {
        assert_err_at(
            &load_err(&edit("tickets", "tickets = -1"), &[]),
            12,
            "workload.tickets",
        );
    }

    #[test]
    fn rule_concurrency_at_least_1() {
        assert_err_at(
            &load_err(&edit("concurrency", "concurrency = 0"), &[]),
            13,
            "workload.concurrency",
        );
    }

    #[test]
    fn rule_think_non_negative() {
        assert_err_at(
            &load_err(&edit("think_ms", "think_ms = -1"), &[]),
            14,
            "workload.think_ms",
        );
    }

    #[test]
    fn rule_submit_to_values() {
        let e = load_err(&edit("submit_to", "submit_to = \"rr\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:15: workload.submit_to = \"rr\": expected \"random\", \"round-robin\" or a \
             non-empty list of server ids from 1 to 5"
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = []"), &[]),
            15,
            "workload.submit_to",
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = 3"), &[]),
            15,
            "workload.submit_to",
        );
        assert_eq!(
            load_ok(&edit("submit_to", "submit_to = \"round-robin\""))
                .workload
                .submit_to,
            SubmitTo::RoundRobin
        );
    }

    #[test]
    fn rule_submit_to_servers_in_range() {
        let e = load_err(&edit("submit_to", "submit_to = [1, 6]"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:15: workload.submit_to[1] = 6: expected a server id from 1 to 5 (cluster.servers = 5)"
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = [0]"), &[]),
            15,
            "workload.submit_to[0]",
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = [1, \"2\"]"), &[]),
            15,
            "workload.submit_to[1]",
        );
        assert_err_at(
            &load_err(&edit("submit_to", "submit_to = [1, 1]"), &[]),
            15,
            "workload.submit_to[1]",
        );
    }

    #[test]
    fn rule_submit_to_line_of_a_multiline_list() {
        let e = load_err(&edit("submit_to", "submit_to = [\n  1,\n  9,\n]"), &[]);
        assert_err_at(&e, 17, "workload.submit_to[1]");
    }

    #[test]
    fn rule_duplicates_fraction() {
        for bad in ["-0.1", "1.5", "nan"] {
            let e = load_err(&edit("duplicates", &format!("duplicates = {bad}")), &[]);
            assert_err_at(&e, 16, "workload.duplicates");
            assert!(e.to_string().contains("from 0 to 1"), "{e}");
        }
        assert_eq!(
            load_ok(&edit("duplicates", "duplicates = 1"))
                .workload
                .duplicates,
            1.0
        );
    }

    #[test]
    fn rule_duplicates_need_two_servers() {
        let text = edit("duplicates", "duplicates = 0.5").replace("servers = 5", "servers = 1");
        let e = load_err(&text, &[]);
        assert_err_at(&e, 16, "workload.duplicates");
        assert!(e.to_string().contains("at least 2 servers"), "{e}");
    }

    #[test]
    fn rule_duplicate_gap_non_negative() {
        assert_err_at(
            &load_err(&edit("duplicate_gap_ms", "duplicate_gap_ms = -5"), &[]),
            17,
            "workload.duplicate_gap_ms",
        );
    }

    #[test]
    fn rule_deadline_positive() {
        assert_err_at(
            &load_err(&edit("deadline_ms", "deadline_ms = 0"), &[]),
            18,
            "workload.deadline_ms",
        );
    }

    #[test]
    fn rule_at_least_one_ticket_in_total() {
        let e = load_err(&edit("tickets", "tickets = 0"), &[]);
        assert_err_at(&e, 12, "workload.tickets");
        assert!(e.to_string().contains("at least 1 ticket in total"), "{e}");
    }

    #[test]
    fn rule_ticket_id_non_empty() {
        let e = load_err(
            &append("[[ticket]]\nid = \"\"\nsubmit = [{ server = 1, at_ms = 0 }]\n"),
            &[],
        );
        assert_err_at(&e, 20, "ticket[0].id");
    }

    #[test]
    fn rule_ticket_id_unique() {
        let e = load_err(
            &append(
                "[[ticket]]\nid = \"a\"\nsubmit = [{ server = 1, at_ms = 0 }]\n\
                 [[ticket]]\nid = \"a\"\nsubmit = [{ server = 2, at_ms = 0 }]\n",
            ),
            &[],
        );
        assert_err_at(&e, 23, "ticket[1].id");
        assert!(e.to_string().contains("ticket[0]"), "{e}");
    }

    #[test]
    fn rule_ticket_id_not_a_generated_id() {
        let e = load_err(
            &append("[[ticket]]\nid = \"t10\"\nsubmit = [{ server = 1, at_ms = 0 }]\n"),
            &[],
        );
        assert_err_at(&e, 20, "ticket[0].id");
        assert!(e.to_string().contains("t1..t10"), "{e}");
        // Not generated: beyond N, leading zero, not a number.
        for ok in ["t11", "t01", "t0", "tau", "t"] {
            load_ok(&append(&format!(
                "[[ticket]]\nid = \"{ok}\"\nsubmit = [{{ server = 1, at_ms = 0 }}]\n"
            )));
        }
    }

    #[test]
    fn rule_ticket_submit_non_empty() {
        let e = load_err(&append("[[ticket]]\nid = \"a\"\nsubmit = []\n"), &[]);
        assert_err_at(&e, 21, "ticket[0].submit");
    }

    #[test]
    fn rule_ticket_submit_server_in_range() {
        let e = load_err(
            &append("[[ticket]]\nid = \"a\"\nsubmit = [\n  { server = 1, at_ms = 0 },\n  { server = 6, at_ms = 5 },\n]\n"),
            &[],
        );
        assert_err_at(&e, 23, "ticket[0].submit[1].server");
        assert!(
            e.to_string()
                .contains("= 6: expected a server id from 1 to 5"),
            "{e}"
        );
    }

    #[test]
    fn rule_ticket_submit_at_non_negative() {
        let e = load_err(
            &append("[[ticket]]\nid = \"a\"\nsubmit = [{ server = 1, at_ms = -1 }]\n"),
            &[],
        );
        assert_err_at(&e, 21, "ticket[0].submit[0].at_ms");
    }

    #[test]
    fn rule_fault_at_non_negative() {
        let e = load_err(&append("[[fault]]\nat_ms = -1\ncrash = [1]\n"), &[]);
        assert_err_at(&e, 20, "fault[0].at_ms");
    }

    #[test]
    fn rule_fault_exactly_one_action() {
        let e = load_err(&append("[[fault]]\nat_ms = 1\n"), &[]);
        assert_err_at(&e, 19, "fault[0]");
        assert!(e.to_string().contains("(found none)"), "{e}");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ncrash = [1]\n[[fault]]\nat_ms = 1\ncrash = [2]\ndelay = { from = 1, to = 2, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 22, "fault[1]");
        assert!(e.to_string().contains("(found 2)"), "{e}");
    }

    #[test]
    fn rule_fault_crash_non_empty() {
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = []\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash");
    }

    #[test]
    fn rule_fault_crash_in_range() {
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = [2, 0]\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash[1]");
    }

    #[test]
    fn rule_fault_server_crashed_once() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ncrash = [3]\n[[fault]]\nat_ms = 2\ncrash = [1, 3]\n"),
            &[],
        );
        assert_err_at(&e, 24, "fault[1].crash[1]");
        assert!(
            e.to_string().contains("fault[0] already crashes server 3"),
            "{e}"
        );
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = [3, 3]\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash[1]");
    }

    #[test]
    fn rule_fault_delay_from_to_in_range() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 6, to = 1, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.from");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 2, to = [1, 9], ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.to[1]");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = [], to = 1, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.from");
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = \"a\", to = 1, ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.from");
    }

    #[test]
    fn rule_fault_delay_ms_non_negative() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 2, to = 1, ms = -1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.ms");
    }

    #[test]
    fn rule_fault_delay_no_self_link() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = [1, 2], to = [3, 2], ms = 1 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.to");
        assert!(e.to_string().contains("2 is in both"), "{e}");
    }

    #[test]
    fn rule_fault_delay_table_form() {
        // A [fault.delay] sub-table works the same, and errors point into it.
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\n[fault.delay]\nfrom = 1\nto = 1\nms = 1\n"),
            &[],
        );
        assert_err_at(&e, 23, "fault[0].delay.to");
    }

    // --- The fault vocabulary (issue "Faults") -------------------------------------------

    fn fault_err(extra: &str) -> String {
        load_err(&append(extra), &[]).to_string()
    }

    #[test]
    fn the_whole_fault_vocabulary_loads() {
        let s = load_ok(&append(
            "[[fault]]\nafter = { server = 1, event = \"accept\" }\ncrash = [1]\n\
             [[fault]]\nafter = { server = 2, event = \"send\", msg = \"C-PROPOSE\", count = 3 }\ncrash = [2]\n\
             [[fault]]\nat_ms = 10\npause = [3]\n[[fault]]\nat_ms = 20\nresume = [3]\n\
             [[fault]]\nat_ms = 30\npartition = [[1, 2], [3, 4, 5]]\n[[fault]]\nat_ms = 40\nheal = true\n\
             [[fault]]\nat_ms = 50\nblock = { from = 1, to = 3 }\n[[fault]]\nat_ms = 60\nheal = true\n\
             [[fault]]\nat_ms = 0\nloss = { rate = 0.2 }\n\
             [[fault]]\nat_ms = 0\nloss = { from = 4, to = [1, 2], rate = 0.5 }\n\
             [[fault]]\nat_ms = 5\nsuspect = { by = 4, server = 5, for_ms = 50 }\n",
        ));
        assert_eq!(s.faults.len(), 11);
        assert_eq!(
            s.faults[1].after,
            Some(After {
                server: 2,
                event: EventKind::Send("C-PROPOSE".into()),
                count: 3
            })
        );
        assert_eq!(
            s.faults[4].action,
            FaultAction::Partition(vec![vec![1, 2], vec![3, 4, 5]])
        );
        assert_eq!(
            s.faults[8].action,
            FaultAction::Loss {
                from: vec![1, 2, 3, 4, 5],
                to: vec![1, 2, 3, 4, 5],
                rate: 0.2
            }
        );
        assert_eq!(
            s.faults[10].action,
            FaultAction::Suspect {
                by: 4,
                server: 5,
                duration: 50_000
            }
        );
    }

    #[test]
    fn rule_fault_time_or_event() {
        let e = fault_err("[[fault]]\ncrash = [1]\n");
        assert!(e.contains("fault[0].at_ms") && e.contains("missing"), "{e}");
        let e = fault_err(
            "[[fault]]\nat_ms = 1\nafter = { server = 1, event = \"accept\" }\ncrash = [1]\n",
        );
        assert!(e.contains("not both"), "{e}");
        let e = fault_err("[[fault]]\nafter = { server = 1, event = \"accept\" }\npause = [1]\n");
        assert!(
            e.contains("fault[0].after") && e.contains("only crash"),
            "{e}"
        );
    }

    #[test]
    fn rule_fault_after_event() {
        let e = fault_err("[[fault]]\nafter = { server = 9, event = \"accept\" }\ncrash = [1]\n");
        assert!(e.contains("fault[0].after.server = 9"), "{e}");
        let e = fault_err("[[fault]]\nafter = { server = 1, event = \"explode\" }\ncrash = [1]\n");
        assert!(
            e.contains("fault[0].after.event") && e.contains("\"send\""),
            "{e}"
        );
        let e = fault_err("[[fault]]\nafter = { server = 1, event = \"send\" }\ncrash = [1]\n");
        assert!(
            e.contains("fault[0].after.msg") && e.contains("NEWTKT"),
            "{e}"
        );
        let e = fault_err(
            "[[fault]]\nafter = { server = 1, event = \"send\", msg = \"HELLO\" }\ncrash = [1]\n",
        );
        assert!(
            e.contains("fault[0].after.msg = \"HELLO\"") && e.contains("C-PROPOSE"),
            "{e}"
        );
        let e = fault_err(
            "[[fault]]\nafter = { server = 1, event = \"accept\", count = 0 }\ncrash = [1]\n",
        );
        assert!(e.contains("fault[0].after.count = 0"), "{e}");
    }

    #[test]
    fn rule_pause_and_resume() {
        let e = fault_err("[[fault]]\nat_ms = 1\npause = [6]\n");
        assert!(e.contains("test.toml:21: fault[0].pause[0] = 6"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nresume = [2]\n");
        assert!(
            e.contains("fault[0].resume[0] = 2") && e.contains("not paused"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 5\nresume = [2]\n[[fault]]\nat_ms = 1\npause = [2]\n[[fault]]\nat_ms = 2\npause = [2]\n");
        assert!(
            e.contains("fault[2].pause[0] = 2") && e.contains("already paused"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\ncrash = [2]\n[[fault]]\nat_ms = 2\npause = [2]\n");
        assert!(
            e.contains("fault[1].pause[0] = 2") && e.contains("crashed"),
            "{e}"
        );
    }

    #[test]
    fn rule_partition_groups() {
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 2], [2, 3, 4, 5]]\n");
        assert!(
            e.contains("fault[0].partition[1][0] = 2") && e.contains("overlap"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 2], [3, 4]]\n");
        assert!(e.contains("server 5 is in none"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 2, 3, 4, 5]]\n");
        assert!(e.contains("at least two groups"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1, 7], [2, 3, 4, 5]]\n");
        assert!(e.contains("fault[0].partition[0][1] = 7"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\npartition = [[1], [2, 3, 4, 5]]\n[[fault]]\nat_ms = 2\npartition = [[1, 2], [3, 4, 5]]\n");
        assert!(
            e.contains("fault[1].partition") && e.contains("heal it first"),
            "{e}"
        );
    }

    #[test]
    fn rule_heal_needs_a_cut() {
        let e = fault_err("[[fault]]\nat_ms = 1\nheal = true\n");
        assert!(
            e.contains("test.toml:21: fault[0].heal") && e.contains("nothing to heal"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 9\nheal = true\n[[fault]]\nat_ms = 10\nblock = { from = 1, to = 2 }\n");
        assert!(e.contains("fault[0].heal"), "heal before the block: {e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nblock = { from = 1, to = 2 }\n[[fault]]\nat_ms = 2\nheal = false\n");
        assert!(e.contains("fault[1].heal = false"), "{e}");
    }

    #[test]
    fn rule_block_and_loss_links() {
        let e = fault_err("[[fault]]\nat_ms = 1\nblock = { from = 1, to = 1 }\n");
        assert!(
            e.contains("fault[0].block.to") && e.contains("itself"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\nblock = { from = 1, to = 8 }\n");
        assert!(e.contains("fault[0].block.to = 8"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nloss = { rate = 1.0 }\n");
        assert!(
            e.contains("fault[0].loss.rate = 1") && e.contains("0.95"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\nloss = { from = 0, rate = 0.1 }\n");
        assert!(e.contains("fault[0].loss.from = 0"), "{e}");
    }

    #[test]
    fn rule_suspect() {
        let e = fault_err("[[fault]]\nat_ms = 1\nsuspect = { by = 2, server = 2, for_ms = 10 }\n");
        assert!(
            e.contains("fault[0].suspect.server = 2") && e.contains("never suspects itself"),
            "{e}"
        );
        let e = fault_err("[[fault]]\nat_ms = 1\nsuspect = { by = 2, server = 3, for_ms = 0 }\n");
        assert!(e.contains("fault[0].suspect.for_ms = 0"), "{e}");
        let e = fault_err("[[fault]]\nat_ms = 1\nsuspect = { by = 2, server = 3 }\n");
        assert!(e.contains("for_ms"), "{e}");
    }

    #[test]
    fn rule_resilience_table() {
        let s = load_ok(&append("[resilience]\n"));
        assert_eq!(
            s.resilience,
            Some(Resilience {
                max_f: 3,
                crash: CrashPick::First
            })
        );
        let e = fault_err("[resilience]\nmax_f = 5\n");
        assert!(
            e.contains("test.toml:20: resilience.max_f = 5") && e.contains("from 0 to 4"),
            "{e}"
        );
        let e = fault_err("[resilience]\ncrash = \"middle\"\n");
        assert!(e.contains("resilience.crash = \"middle\""), "{e}");
        let e = fault_err("[resilience]\n[[fault]]\nat_ms = 1\ncrash = [1]\n");
        assert!(e.contains("fault[0].crash") && e.contains("sweep"), "{e}");
        let e = fault_err("[resilience]\nf = 2\n");
        assert!(
            e.contains("resilience.f") && e.contains("unknown key"),
            "{e}"
        );
    }
}
