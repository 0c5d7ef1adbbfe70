//! Which history a `ticketlab diagram` path names: a run's output folder (`<protocol>/history.jsonl`
//! inside, sweeps one level deeper: `2pe/f1/`, `bft-fleet/lie/`), one protocol's folder, or a
//! history.jsonl file. The run's `summary.json` (in the folder or up to three levels above the
//! history) gives the scenario's name, n and the protocols' order.

use crate::protocol::ServerId;
use std::path::{Path, PathBuf};

/// The history to draw and what surrounds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub history: PathBuf,
    /// The history's folder relative to the run folder, e.g. "2pe" or "2pe/f1".
    pub name: String,
    /// The other histories of the run folder, by name.
    pub others: Vec<String>,
    /// From summary.json, when found.
    pub scenario: Option<String>,
    pub n: Option<ServerId>,
}

/// What a run's summary.json says that the diagram uses.
#[derive(Clone, Debug, Default)]
struct Meta {
    root: Option<PathBuf>,
    scenario: Option<String>,
    n: Option<ServerId>,
    order: Vec<String>,
}

fn meta_near(start: &Path) -> Meta {
    for dir in start.ancestors().take(4) {
        let file = dir.join("summary.json");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        return Meta {
            root: Some(dir.to_path_buf()),
            scenario: v["scenario"].as_str().map(str::to_string),
            n: v["servers"]
                .as_u64()
                .and_then(|n| ServerId::try_from(n).ok()),
            order: v["runs"]
                .as_array()
                .map(|runs| {
                    runs.iter()
                        .filter_map(|r| r["protocol"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        };
    }
    Meta::default()
}

/// `history`'s folder relative to `root`, with `/` separators ("2pe", "2pe/f1"); the folder's own
/// name when it is not below `root`.
pub fn relative_name(root: &Path, history: &Path) -> String {
    let dir = history.parent().unwrap_or(Path::new(""));
    let rel = dir
        .strip_prefix(root)
        .ok()
        .filter(|r| !r.as_os_str().is_empty());
    match rel {
        Some(r) => r
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        None => dir.file_name().map_or_else(
            || "history".to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
    }
}

/// Every history.jsonl in `dir` itself and up to two folder levels below it.
fn histories(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut level = vec![dir.to_path_buf()];
    for depth in 0..3 {
        let mut next = Vec::new();
        for d in &level {
            let h = d.join("history.jsonl");
            if h.is_file() {
                out.push(h);
            }
            if depth < 2 {
                if let Ok(entries) = std::fs::read_dir(d) {
                    next.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
                }
            }
        }
        level = next;
    }
    out
}

/// Find the history `path` (and `--protocol`) name. Errors name the path.
pub fn locate(path: &Path, protocol: Option<&str>) -> anyhow::Result<Source> {
    let md = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("{}: no such file or folder", path.display())
        }
        _ => anyhow::anyhow!("{}: {e}", path.display()),
    })?;
    if md.is_file() {
        if let Some(p) = protocol {
            anyhow::bail!(
                "--protocol {p}: {} is a history file, not a run folder",
                path.display()
            );
        }
        let meta = meta_near(path.parent().unwrap_or(Path::new(".")));
        let root = meta.root.clone().unwrap_or_default();
        return Ok(Source {
            history: path.to_path_buf(),
            name: relative_name(&root, path),
            others: Vec::new(),
            scenario: meta.scenario,
            n: meta.n,
        });
    }
    let meta = meta_near(path);
    let root = meta.root.clone().unwrap_or_else(|| path.to_path_buf());
    let base = match protocol {
        None => path.to_path_buf(),
        Some(p) => {
            let base = path.join(p);
            if !base.is_dir() {
                let found: Vec<String> = histories(path)
                    .iter()
                    .map(|h| relative_name(&root, h))
                    .collect();
                anyhow::bail!(
                    "{}: no protocol {p:?} here (found: {})",
                    path.display(),
                    if found.is_empty() {
                        "no history at all".to_string()
                    } else {
                        found.join(", ")
                    }
                );
            }
            base
        }
    };
    let mut found: Vec<(usize, usize, String, PathBuf)> = histories(&base)
        .into_iter()
        .map(|h| {
            let name = relative_name(&root, &h);
            let top = name.split('/').next().unwrap_or("").to_string();
            let rank = meta
                .order
                .iter()
                .position(|p| *p == top)
                .unwrap_or(usize::MAX);
            (rank, name.matches('/').count(), name, h)
        })
        .collect();
    found.sort();
    let mut found = found.into_iter();
    let Some((_, _, name, history)) = found.next() else {
        anyhow::bail!(
            "{}: no history.jsonl here (expected a `ticketlab run` output folder, a protocol \
             folder in it, or a history.jsonl file)",
            base.display()
        );
    };
    Ok(Source {
        history,
        name,
        others: found.map(|(_, _, name, _)| name).collect(),
        scenario: meta.scenario,
        n: meta.n,
    })
}
