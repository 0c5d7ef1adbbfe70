//! Where a run's results go, so that results can be trusted later: a folder never mixes two runs,
//! and the default folder never silently replaces an earlier run of another configuration.
//!
//! Policy (README, "Outputs"):
//! - a folder that does not exist, or is empty, is used as it is;
//! - a folder holding an earlier ticketlab run (its `summary.json` says so) is cleared of
//!   ticketlab's own outputs — `summary.json`, the protocol folders, sweep and plot files — before
//!   the new run writes there; anything else in it is left alone;
//! - but when that folder is the *default* one (`results/<scenario>/`, no `--out`) and the
//!   earlier run was of another configuration (another effective scenario, seed or mode), the
//!   earlier run is first moved aside to `results/<scenario>.<k>/` (the lowest free k), and the
//!   move is printed;
//! - a non-empty folder with no ticketlab summary is refused: it is not ours to clear.

use crate::protocol::ProtocolKind;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// What identifies a run's configuration: the effective scenario (after `--set`), the seed and
/// the runtime (`summary.json`'s `scenario_toml`, `seed`, `mode`).
#[derive(Debug, PartialEq)]
pub struct Config {
    pub scenario_toml: String,
    pub seed: u64,
    pub mode: String,
}

/// Files and folders ticketlab writes in a run folder (besides one folder per protocol).
const OURS: &[&str] = &[
    "summary.json",
    "sweep.csv",
    "sweep.json",
    "latency.svg",
    "messages.svg",
    "throughput.svg",
    "points",
];

/// Make `dir` ready for a new run of `config` (see the module doc). `default` is whether `dir`
/// is the default folder. Returns the folder an earlier run was moved to, if one was.
pub fn prepare(dir: &Path, default: bool, config: &Config) -> anyhow::Result<Option<PathBuf>> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        return Ok(None);
    }
    if !dir.is_dir() {
        bail!("output folder {} is a file, not a folder", dir.display());
    }
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read output folder {}", dir.display()))?
        .next()
        .is_none();
    if empty {
        return Ok(None);
    }
    let Some(earlier) = earlier_run(dir) else {
        bail!(
            "output folder {} is not empty and holds no ticketlab run (no summary.json of ours): \
             ticketlab will not clear it; choose another folder with --out, or empty it",
            dir.display()
        );
    };
    if default && earlier.as_ref() != Some(config) {
        let kept = free_sibling(dir)?;
        std::fs::rename(dir, &kept)
            .with_context(|| format!("cannot move the earlier run {} aside", dir.display()))?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        return Ok(Some(kept));
    }
    clear(dir)?;
    Ok(None)
}

/// The configuration of the ticketlab run in `dir`: None when `dir` holds no summary of ours;
/// Some(None) for one too old to say (no `scenario_toml`) or a sweep (`sweep.json`).
fn earlier_run(dir: &Path) -> Option<Option<Config>> {
    let sweep = std::fs::read_to_string(dir.join("sweep.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if sweep.is_some_and(|v| v.get("points").is_some_and(|p| p.is_array())) {
        return Some(None);
    }
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if !(v.get("scenario").is_some() && v.get("runs").is_some_and(|r| r.is_array())) {
        return None;
    }
    let config = (|| {
        Some(Config {
            scenario_toml: v.get("scenario_toml")?.as_str()?.to_string(),
            seed: v.get("seed")?.as_u64()?,
            mode: v.get("mode")?.as_str()?.to_string(),
        })
    })();
    Some(config)
}

/// `results/<name>.<k>` for the lowest k not taken.
fn free_sibling(dir: &Path) -> anyhow::Result<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "results".into());
    for k in 1..10_000 {
        let p = dir.with_file_name(format!("{name}.{k}"));
        if !p.exists() {
            return Ok(p);
        }
    }
    bail!("no free folder name beside {}", dir.display())
}

/// Remove ticketlab's own outputs from `dir`.
fn clear(dir: &Path) -> anyhow::Result<()> {
    let protocols = ProtocolKind::ALL.iter().map(|p| p.name());
    for name in OURS.iter().copied().chain(protocols) {
        let p = dir.join(name);
        let res = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else if p.exists() {
            std::fs::remove_file(&p)
        } else {
            continue;
        };
        res.with_context(|| format!("cannot clear the earlier run's {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> Config {
        Config {
            scenario_toml: "name = \"x\"\n".into(),
            seed,
            mode: "sim".into(),
        }
    }

    fn write_run(dir: &Path, c: &Config, protocols: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        let summary = serde_json::json!({
            "scenario": "x", "seed": c.seed, "mode": c.mode,
            "scenario_toml": c.scenario_toml, "runs": [],
        });
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        for p in protocols {
            std::fs::create_dir_all(dir.join(p)).unwrap();
            std::fs::write(dir.join(p).join("history.jsonl"), "").unwrap();
        }
    }

    #[test]
    fn a_rerun_clears_the_earlier_protocol_folders_and_keeps_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        write_run(&dir, &config(1), &["2pe", "se-ct"]);
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        assert_eq!(prepare(&dir, false, &config(2)).unwrap(), None);
        assert!(!dir.join("se-ct").exists() && !dir.join("summary.json").exists());
        assert!(dir.join("notes.txt").exists(), "not ours: left alone");
    }

    #[test]
    fn the_default_folder_moves_another_configuration_aside_and_reuses_the_same_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("table1");
        write_run(&dir, &config(1), &["2pe"]);
        // Same configuration: replaced in place.
        assert_eq!(prepare(&dir, true, &config(1)).unwrap(), None);
        assert!(!dir.join("2pe").exists());
        write_run(&dir, &config(1), &["2pe"]);
        // Another one: kept as table1.1, then table1.2.
        let kept = prepare(&dir, true, &config(2)).unwrap().unwrap();
        assert_eq!(kept, tmp.path().join("table1.1"));
        assert!(kept.join("2pe/history.jsonl").exists());
        assert!(dir.exists() && std::fs::read_dir(&dir).unwrap().next().is_none());
        write_run(&dir, &config(2), &["se-ct"]);
        let kept = prepare(&dir, true, &config(3)).unwrap().unwrap();
        assert_eq!(kept, tmp.path().join("table1.2"));
    }

    #[test]
    fn a_folder_that_is_not_ours_is_refused_and_a_new_one_created() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("thesis.tex"), "…").unwrap();
        let e = prepare(tmp.path(), false, &config(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no ticketlab run"), "{e}");
        let fresh = tmp.path().join("a/b");
        assert_eq!(prepare(&fresh, false, &config(1)).unwrap(), None);
        assert!(fresh.is_dir());
    }
}
