//! Architecture invariants, checked on the code: protocol code is a deterministic state machine
//! with no I/O; no runtime imports another; modules import each other without cycles.
//!
//! The protocols live in their own crate, `crates/ticketlab-protocols`, whose only dependencies
//! are serde and the signature crates bft-fleet needs (ed25519-dalek, sha2): the compiler keeps
//! tokio, sockets, libc and randomness out (checked below on the real dependency tree). What the compiler cannot see — std's own clock, threads, files, environment,
//! printing and iteration-order-random maps — is checked on the sources.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "std::net",
    "std::thread",
    "std::time",
    "Instant",
    "SystemTime",
    "rand::",
    "rand_chacha",
    "thread_rng",
    "HashMap",
    "HashSet",
    "std::fs",
    "std::process",
    "std::env",
    "println!",
    "eprintln!",
];

/// Crates the protocol crate may depend on (normal dependencies, transitively): serde, and
/// bft-fleet's signatures — ed25519-dalek and SHA-256, pure computation, with no randomness
/// (keys come from the run's seed).
const ALLOWED_DEPS: &[&str] = &[
    "ticketlab-protocols",
    "serde",
    "serde_core",
    "serde_derive",
    "proc-macro2",
    "quote",
    "syn",
    "unicode-ident",
    "ed25519-dalek",
    "ed25519",
    "curve25519-dalek",
    "curve25519-dalek-derive",
    "signature",
    "sha2",
    "digest",
    "block-buffer",
    "crypto-common",
    "generic-array",
    "typenum",
    "cpufeatures",
    "cfg-if",
    "subtle",
    "zeroize",
];

#[test]
fn protocol_crate_depends_on_serde_and_signatures_only() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "ticketlab-protocols",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"ticketlab-protocols"), "{tree}");
    assert!(names.contains(&"serde"), "{tree}");
    for name in names {
        assert!(
            ALLOWED_DEPS.contains(&name),
            "the protocol crate must not depend on {name} (no runtime, no I/O):\n{tree}"
        );
    }
}

#[test]
fn protocol_code_does_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/ticketlab-protocols/src");
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut checked = 0;
    for path in files {
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for f in FORBIDDEN {
                    assert!(
                        !code.contains(f),
                        "{}:{}: protocol code must not use `{f}`: {line}",
                        path.display(),
                        i + 1
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "expected the protocol modules, found {checked} files"
    );
}

/// The top-level modules of `src/` and the modules each one names in code (comments stripped).
fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut graph = std::collections::BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let uses: &mut std::collections::BTreeSet<String> = graph.entry(top.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn no_runtime_imports_another_runtime() {
    let graph = module_graph();
    let runtimes = ["sim", "process", "etcd"];
    for r in runtimes {
        let uses = graph.get(r).unwrap_or_else(|| panic!("no module {r}"));
        for other in runtimes.iter().filter(|&&o| o != r) {
            assert!(!uses.contains(*other), "{r} imports {other}: {uses:?}");
        }
    }
    // The shared core knows no runtime.
    for core in [
        "lab",
        "report",
        "resilience",
        "explore",
        "shrink",
        "checker",
        "scenario",
        "workload",
        "sweep",
        "plot",
    ] {
        let uses = &graph[core];
        assert!(
            runtimes.iter().all(|r| !uses.contains(*r)),
            "{core} imports a runtime: {uses:?}"
        );
    }
}

#[test]
fn modules_import_each_other_without_cycles() {
    let graph = module_graph();
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == n) {
            panic!("import cycle: {} -> {n}", path[at..].join(" -> "));
        }
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            visit(m, graph, path, done);
        }
        path.pop();
        done.insert(n.to_string());
    }
    let mut done = std::collections::BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
    assert!(
        done.len() >= 10,
        "expected the crate's modules, found {done:?}"
    );
}
