//! Validation: the raw structs into a [`Scenario`], every rule including cross-field ones. A
//! [`Ctx`] locates keys (the line in the file as written, or "from --set") and builds the errors;
//! each part of the file has its own module.

mod cluster;
mod faults;
mod remote;
mod workload;

use super::error::{line_col, one_line};
use super::overrides::{display_path, lookup, path_at, Path, Seg};
use super::raw::{RawByzantineSweep, RawCluster, RawResilience, RawScenario};
use super::{
    ms_to_us, ByzantineSweep, Cluster, CrashPick, Fault, FaultAction, Location, Resilience,
    Scenario, ScenarioError, MAX_MS, MIN_POSITIVE_MS,
};
use crate::protocol::{ServerId, Time};
use crate::scenario::Behaviour;
use std::collections::BTreeSet;
use std::fmt;
use toml_edit::ImDocument;

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

/// What validation needs to point an error at its key: the file's name, the document as the user
/// wrote it, and the keys `--set` touched.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    /// The document as the user wrote it: lines come from here.
    pub(super) original: &'a ImDocument<&'a str>,
    /// Keys set by `--set`.
    pub(super) set_paths: Vec<Path>,
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
    pub(super) fn schema_error(
        &self,
        effective: &ImDocument<&str>,
        e: &toml::de::Error,
    ) -> ScenarioError {
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

    pub(super) fn validate(&self, raw: RawScenario) -> Res<Scenario> {
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

        let mut cluster = self.cluster(&raw.cluster)?;
        let n = cluster.servers;
        let workload = self.workload(&raw.workload, n)?;
        let tickets = self.tickets(&raw.ticket, n, workload.tickets)?;
        let faults = self.faults(&raw.fault, n)?;
        let sweep = self.byzantine_sweep(&raw.byzantine, &faults, n)?;
        cluster.byzantine_max = self.byzantine(&raw.cluster, &cluster, &faults, sweep.as_ref())?;
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

        if let Some(b) = cluster.baselines.first() {
            // A baseline is a real store the lab's fault injector does not drive, except for
            // kill -9 of a member at a time.
            let why = format!(
                "the {b} baseline (cluster.protocols) takes timed crash faults only (kill -9 of \
                 a member at `at_ms`), no other faults, Byzantine servers or resilience sweeps: \
                 its members are real {b} processes; remove this or drop {:?} from \
                 cluster.protocols",
                b.name()
            );
            let timed_crash =
                |f: &Fault| f.after.is_none() && matches!(f.action, FaultAction::Crash(_));
            if let Some(i) = faults.iter().position(|f| !timed_crash(f)) {
                return Err(self.schema(&root.k("fault").i(i), why));
            }
            if resilience.is_some() {
                return Err(self.schema(&root.k("resilience"), why));
            }
            if sweep.is_some() {
                return Err(self.schema(&root.k("byzantine"), why));
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
            byzantine: sweep,
        })
    }

    /// b: `cluster.byzantine_max`, by default the number of servers the faults make Byzantine;
    /// never fewer than those; within every protocol's bound unless `allow_unsafe`.
    fn byzantine(
        &self,
        raw: &RawCluster,
        cluster: &Cluster,
        faults: &[Fault],
        sweep: Option<&ByzantineSweep>,
    ) -> Res<u16> {
        let c = K::root().k("cluster");
        let mut byzantine: BTreeSet<ServerId> = BTreeSet::new();
        if let Some(sw) = sweep {
            byzantine.extend(&sw.servers);
        }
        for f in faults {
            if let FaultAction::Byzantine { servers, .. } = &f.action {
                byzantine.extend(servers);
            }
        }
        let count = byzantine.len() as u16;
        let b = match raw.byzantine_max {
            None => count,
            Some(_) if cluster.byzantine_max < count => {
                return Err(self.invalid(
                    &c.k("byzantine_max"),
                    cluster.byzantine_max,
                    format!(
                        "expected at least {count}: the faults make {count} server(s) Byzantine \
                         ({})",
                        byzantine
                            .iter()
                            .map(|s| format!("s{s}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
            Some(_) => cluster.byzantine_max,
        };
        if b > 0 && !cluster.allow_unsafe {
            let n = cluster.servers;
            if let Some(p) = cluster.protocols.iter().find(|p| p.byzantine_bound(n) < b) {
                let bound = p.byzantine_bound(n);
                let why = match p.byzantine_condition() {
                    None => {
                        format!("{p} tolerates no Byzantine server (it is crash-tolerant only)")
                    }
                    Some(needs) => {
                        format!("{p} tolerates at most b = {bound} at n = {n} (it needs {needs})")
                    }
                };
                return Err(self.invalid(
                    &c.k("byzantine_max"),
                    if raw.byzantine_max.is_some() {
                        b.to_string()
                    } else {
                        format!("{b} (the Byzantine servers of the faults)")
                    },
                    format!(
                        "expected b within every protocol's bound: {why}; set \
                         cluster.allow_unsafe = true to run it anyway and watch it break"
                    ),
                ));
            }
        }
        Ok(b)
    }

    /// A Byzantine behaviour by name.
    fn behaviour(&self, path: &K, name: &str) -> Res<Behaviour> {
        Behaviour::from_name(name).ok_or_else(|| {
            let names: Vec<String> = Behaviour::ALL
                .iter()
                .map(|b| format!("{:?}", b.name()))
                .collect();
            self.invalid(
                path,
                format!("{name:?}"),
                format!("expected one of {}", names.join(", ")),
            )
        })
    }

    /// `[byzantine]`: the servers (ids in range) and behaviours (default: all five).
    fn byzantine_sweep(
        &self,
        raw: &Option<RawByzantineSweep>,
        faults: &[Fault],
        n: u16,
    ) -> Res<Option<ByzantineSweep>> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let key = K::root().k("byzantine");
        if let Some(i) = faults
            .iter()
            .position(|f| matches!(f.action, FaultAction::Byzantine { .. }))
        {
            return Err(self.schema(
                &K::root().k("fault").i(i).k("byzantine"),
                "a [byzantine] sweep makes servers Byzantine itself, once per behaviour; remove \
                 byzantine faults from this scenario",
            ));
        }
        if raw.servers.is_empty() {
            return Err(self.invalid(
                &key.k("servers"),
                "[]",
                format!("expected a non-empty list of server ids from 1 to {n}"),
            ));
        }
        let mut servers = Vec::new();
        for (i, &s) in raw.servers.iter().enumerate() {
            servers.push(self.server(&key.k("servers").i(i), s, n)?);
        }
        let behaviours = match &raw.behaviours {
            None => Behaviour::ALL.to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    out.push(self.behaviour(&key.k("behaviours").i(i), name)?);
                }
                if out.is_empty() {
                    return Err(self.invalid(
                        &key.k("behaviours"),
                        "[]",
                        "expected at least one behaviour",
                    ));
                }
                out
            }
        };
        let at = self.ms(&key.k("at_ms"), raw.at_ms, 0.0, 0.0, MAX_MS)?;
        Ok(Some(ByzantineSweep {
            servers,
            behaviours,
            at,
        }))
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
    use crate::scenario::testkit::*;

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
    fn rule_at_least_one_ticket_in_total() {
        let e = load_err(&edit("tickets", "tickets = 0"), &[]);
        assert_err_at(&e, 12, "workload.tickets");
        assert!(e.to_string().contains("at least 1 ticket in total"), "{e}");
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
