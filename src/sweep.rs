//! Sweeps: one scenario run at every point of a grid of scenario keys (`[sweep]` in the file,
//! `--sweep key=v1,v2,…` on the command line), and what a sweep writes: `sweep.csv` (one row per
//! point × run row), `sweep.json` and the compact terminal table. Runtime-neutral: the command
//! line (`cli/sweep.rs`) runs the points; `plot` draws the figures from the same records.

use crate::report::{RunSummary, Summary};
use crate::scenario::{Mode, SweepAxis};
use crate::text::wrap;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};
use comfy_table::{ContentArrangement, Table};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Keys that set the offered load: a sweep over one of them also plots latency against
/// throughput.
pub const LOAD_KEYS: &[&str] = &["workload.rate", "workload.concurrency", "workload.think_ms"];

/// `--sweep key=v1,v2,…` → an axis. Values are split at top-level commas (not inside `[..]`,
/// `{..}` or quotes: `--sweep 'workload.submit_to=[1,2],[3]'` has two values).
pub fn parse_flag(arg: &str) -> Result<SweepAxis, String> {
    let usage = "expected key=v1,v2,…, e.g. --sweep cluster.servers=3,5,7";
    let Some((key, values)) = arg.split_once('=') else {
        return Err(usage.to_string());
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{usage} (the key is empty)"));
    }
    let values = split_values(values);
    if values.iter().any(String::is_empty) {
        return Err(format!("{usage} (a value is empty)"));
    }
    if let Some((_, dup)) = values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v))
    {
        return Err(format!(
            "the value {dup} appears twice; expected distinct values"
        ));
    }
    Ok(SweepAxis {
        key: key.to_string(),
        values,
        source: format!("--sweep {arg}"),
    })
}

/// Splits at commas outside brackets, braces and quotes; each part trimmed.
fn split_values(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur.trim().to_string());
    parts
}

/// The scenario's `[sweep]` axes with the command line's: a `--sweep` key already swept replaces
/// that axis's values in place; a new key is added after the others.
pub fn merge(mut axes: Vec<SweepAxis>, flags: Vec<SweepAxis>) -> Vec<SweepAxis> {
    for flag in flags {
        match axes.iter_mut().find(|a| a.key == flag.key) {
            Some(a) => *a = flag,
            None => axes.push(flag),
        }
    }
    axes
}

/// One point of the grid: a value per swept key, in axis order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// (key, value as TOML text).
    pub values: Vec<(String, String)>,
}

/// Every point of the grid, the first key varying slowest.
pub fn grid(axes: &[SweepAxis]) -> Vec<Point> {
    let mut points = vec![Point { values: Vec::new() }];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut values = p.values.clone();
                    values.push((axis.key.clone(), v.clone()));
                    Point { values }
                })
            })
            .collect();
    }
    points
}

/// A value as users read it: TOML strings without their quotes (`"round-robin"` →
/// `round-robin`), anything else as written.
pub fn display_value(text: &str) -> String {
    match text.parse::<toml_edit::Value>() {
        Ok(toml_edit::Value::String(s)) => s.value().clone(),
        _ => text.to_string(),
    }
}

/// A value as a number, if it is one (the plots' x axis).
pub fn numeric_value(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

impl Point {
    /// `--set` arguments that make this point of a scenario.
    pub fn sets(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// `cluster.servers=5, cluster.delta_ms=2.5`.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={}", display_value(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The point's folder name: `cluster.servers=5,cluster.delta_ms=2.5`, characters other than
    /// letters, digits and `._=,+-` replaced by `_`.
    pub fn dir_name(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={}", display_value(v)))
            .collect::<Vec<_>>()
            .join(",")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._=,+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The value of `key` at this point (TOML text).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Serialize for Point {
    /// `{"cluster.servers": 5}`: each value as the JSON of its TOML value, in axis order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in &self.values {
            let parsed = format!("v = {v}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"));
            match parsed {
                Some(value) => map.serialize_entry(k, &value)?,
                None => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

/// One point's runs: its `summary.json` and its folder (relative to the sweep's).
#[derive(Clone, Debug, Serialize)]
pub struct PointRun {
    pub point: Point,
    pub dir: String,
    pub summary: Summary,
}

/// A whole sweep: `sweep.json`, and what the CSV, table and plots are made from.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub scenario: String,
    /// The swept keys, in axis order (the first is the plots' x axis).
    pub keys: Vec<String>,
    /// The number of points in the grid (`points` has fewer when the sweep stopped early).
    pub grid: usize,
    /// False when the sweep stopped early (error, interrupt).
    pub complete: bool,
    pub points: Vec<PointRun>,
}

/// Tickets decided per second after the warm-up: the run's measured `throughput_per_s`.
pub fn throughput(r: &RunSummary) -> Option<f64> {
    r.throughput_per_s
}

/// The theory latency in ms: theory δ × the point's δ.
pub fn theory_latency_ms(s: &Summary, r: &RunSummary) -> f64 {
    r.theory.latency_delta * s.delta_ms
}

fn num(v: f64) -> String {
    format!("{v}")
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), num)
}

type Column = (&'static str, fn(&Summary, &RunSummary) -> String);

/// The CSV's columns after the swept keys, the protocol and (in a `[byzantine]` sweep) the
/// behaviour: the point's run settings, then every numeric field of the row, theory beside the
/// measured figure it predicts.
const COLUMNS: &[Column] = &[
    ("mode", |s, _| s.mode.name().to_string()),
    ("seed", |s, _| s.seed.to_string()),
    ("servers", |s, _| s.servers.to_string()),
    ("delta_ms", |s, _| num(s.delta_ms)),
    ("complete", |s, _| s.complete.to_string()),
    ("theory_applies", |s, _| s.theory_applies.to_string()),
    ("tickets", |_, r| r.tickets.to_string()),
    ("accepted", |_, r| r.accepted.to_string()),
    ("rejected", |_, r| r.rejected.to_string()),
    ("undecided", |_, r| r.undecided.to_string()),
    ("accepted_phase1", |_, r| r.accepted_phase1.to_string()),
    ("accepted_phase2", |_, r| r.accepted_phase2.to_string()),
    ("latency_delta_p50", |_, r| opt(r.latency_delta.p50)),
    ("latency_delta_p99", |_, r| opt(r.latency_delta.p99)),
    ("latency_delta_max", |_, r| opt(r.latency_delta.max)),
    ("theory_latency_delta", |_, r| num(r.theory.latency_delta)),
    ("latency_ms_p50", |_, r| opt(r.latency_ms.p50)),
    ("latency_ms_p99", |_, r| opt(r.latency_ms.p99)),
    ("latency_ms_max", |_, r| opt(r.latency_ms.max)),
    ("theory_latency_ms", |s, r| num(theory_latency_ms(s, r))),
    ("messages_per_ticket", |_, r| num(r.messages_per_ticket)),
    ("theory_messages_per_ticket", |_, r| {
        r.theory.messages_per_ticket.to_string()
    }),
    ("messages", |_, r| r.messages.to_string()),
    ("decisions", |_, r| r.decisions.to_string()),
    ("heartbeats", |_, r| r.heartbeats.to_string()),
    ("violations", |_, r| r.violations.len().to_string()),
    ("stalled", |_, r| r.stalled.len().to_string()),
    ("crashed", |_, r| r.crashed.len().to_string()),
    ("fast_deliveries", |_, r| r.fast_deliveries.to_string()),
    ("fallbacks", |_, r| r.fallbacks.to_string()),
    ("tries", |_, r| r.tries.to_string()),
    ("backoffs", |_, r| r.backoffs.to_string()),
    ("backoff_ms", |_, r| num(r.backoff_ms)),
    ("retransmissions", |_, r| r.retransmissions.to_string()),
    ("duration_ms", |_, r| num(r.duration_ms)),
    ("throughput_per_s", |_, r| opt(throughput(r))),
    ("offered_per_s", |_, r| opt(r.offered_per_s)),
    ("client_latency_ms_p50", |_, r| opt(r.client_latency_ms.p50)),
    ("client_latency_ms_p99", |_, r| opt(r.client_latency_ms.p99)),
    ("client_latency_ms_max", |_, r| opt(r.client_latency_ms.max)),
    ("warmup_ms", |_, r| num(r.warmup_ms)),
    ("measured_interval_ms", |_, r| num(r.measured_interval_ms)),
    ("resilience_measured", |_, r| {
        r.resilience_measured
            .map_or(String::new(), |f| f.to_string())
    }),
];

/// Whether any row is one behaviour of a `[byzantine]` sweep.
fn has_behaviours(report: &SweepReport) -> bool {
    report
        .points
        .iter()
        .any(|p| p.summary.runs.iter().any(|r| r.behaviour.is_some()))
}

/// `sweep.csv`: a header, then one row per point × run row (protocol, or protocol and behaviour).
pub fn csv(report: &SweepReport) -> String {
    let behaviours = has_behaviours(report);
    let mut header: Vec<String> = report.keys.clone();
    header.push("protocol".into());
    if behaviours {
        header.push("behaviour".into());
    }
    header.extend(COLUMNS.iter().map(|(name, _)| name.to_string()));
    let mut out = header
        .iter()
        .map(|h| crate::formats::csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for p in &report.points {
        for r in &p.summary.runs {
            let mut row: Vec<String> = p
                .point
                .values
                .iter()
                .map(|(_, v)| display_value(v))
                .collect();
            row.push(r.protocol.name().to_string());
            if behaviours {
                row.push(r.behaviour.map_or(String::new(), |b| b.name().to_string()));
            }
            row.extend(COLUMNS.iter().map(|(_, f)| f(&p.summary, r)));
            out.push_str(
                &row.iter()
                    .map(|c| crate::formats::csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
    }
    out
}

/// The last segment of a key, for a narrow column header (`cluster.servers` → `servers`).
fn short_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The terminal table of a sweep, 80 columns wide, no word broken: one row per point × run row,
/// the point's values on its first row only; measured figures with theory in parentheses.
pub fn render_table(report: &SweepReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(80);
    // One key: its values in a column named after it. Several: one "point" column, a
    // key=value line per key, so the table stays within 80 columns.
    let one_key = report.keys.len() == 1;
    let mut header = vec![if one_key {
        short_key(&report.keys[0]).to_string()
    } else {
        "point".to_string()
    }];
    header.extend(
        [
            "protocol",
            "δ max\n(theory)",
            "δ p50",
            "msgs per\nticket\n(theory)",
            "acc/rej\n/undec",
            "viol.",
        ]
        .map(String::from),
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    for p in &report.points {
        let point = if one_key {
            display_value(&p.point.values[0].1)
        } else {
            p.point
                .values
                .iter()
                .map(|(k, v)| format!("{}={}", short_key(k), display_value(v)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        for (i, r) in p.summary.runs.iter().enumerate() {
            let mut row = vec![
                if i == 0 { point.clone() } else { String::new() },
                r.label(),
            ];
            row.extend(crate::report::measured_cells(r));
            rows.push(row);
        }
    }
    t.set_header(header);
    for row in rows {
        t.add_row(row.into_iter().enumerate().map(|(c, text)| {
            let cell = Cell::new(text);
            if c < 2 {
                cell
            } else {
                cell.set_alignment(CellAlignment::Right)
            }
        }));
    }
    // Words are never broken: each column is at least as wide as its longest word.
    crate::text::fit_words(&mut t, 80);
    let modes: Vec<Mode> =
        report
            .points
            .iter()
            .map(|p| p.summary.mode)
            .fold(Vec::new(), |mut seen, m| {
                if !seen.contains(&m) {
                    seen.push(m);
                }
                seen
            });
    let mode = modes
        .iter()
        .map(|m| match m {
            Mode::Sim => "simulator",
            Mode::Processes => "real processes",
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let title = format!(
        "{}: sweep over {}, {} of {} point(s), {mode}{}",
        report.scenario,
        report.keys.join(" × "),
        report.points.len(),
        report.grid,
        if report.complete {
            ""
        } else {
            " — INCOMPLETE sweep"
        },
    );
    let renamed: Vec<String> = report
        .keys
        .iter()
        .filter(|k| short_key(k) != k.as_str())
        .map(|k| format!("{} = {k}", short_key(k)))
        .collect();
    let mut foot =
        "measured figures; the paper's theory (fault-free, uncontended) in parentheses".to_string();
    if !renamed.is_empty() {
        foot.push_str(&format!("; columns: {}", renamed.join(", ")));
    }
    if report.points.iter().any(|p| p.summary.delta_ms <= 0.0) {
        foot.push_str("; δ = 0 (no injected delay): latency in µs, theory in δ");
    }
    // Lines of at most 80 columns, words whole.
    let mut text = wrap(&title, " ", 80, 2).trim_start().to_string();
    text.push_str(&format!("\n{t}"));
    text.push_str(&wrap(&foot, " ", 80, 0));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(key: &str, values: &[&str]) -> SweepAxis {
        SweepAxis {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            source: String::new(),
        }
    }

    #[test]
    fn flags_split_at_top_level_commas() {
        let a = parse_flag("workload.submit_to=[1,2], [3] ,\"a,b\"").unwrap();
        assert_eq!(a.key, "workload.submit_to");
        assert_eq!(a.values, vec!["[1,2]", "[3]", "\"a,b\""]);
        assert_eq!(a.source, "--sweep workload.submit_to=[1,2], [3] ,\"a,b\"");
        for bad in [
            "cluster.servers",
            "=3",
            "cluster.servers=3,,5",
            "cluster.servers=3,3",
        ] {
            assert!(parse_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_replace_or_extend_the_file_axes() {
        let file = vec![axis("a", &["1"]), axis("b", &["2"])];
        let merged = merge(file, vec![axis("b", &["3", "4"]), axis("c", &["5"])]);
        let keys: Vec<&str> = merged.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "b", "c"]);
        assert_eq!(merged[1].values, vec!["3", "4"]);
    }

    #[test]
    fn the_grid_is_the_full_product_first_key_slowest() {
        let points = grid(&[axis("a", &["1", "2"]), axis("b", &["\"x\"", "[1, 2]"])]);
        let labels: Vec<String> = points.iter().map(Point::label).collect();
        assert_eq!(
            labels,
            vec!["a=1, b=x", "a=1, b=[1, 2]", "a=2, b=x", "a=2, b=[1, 2]"]
        );
        assert_eq!(points[1].dir_name(), "a=1,b=_1,_2_");
        assert_eq!(points[1].sets(), vec!["a=1", "b=[1, 2]"]);
        let json = serde_json::to_string(&points[1]).unwrap();
        assert_eq!(json, r#"{"a":1,"b":[1,2]}"#);
    }
}
