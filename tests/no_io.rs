//! Architecture invariant: protocol code is a deterministic state machine with no I/O.
//!
//! The protocols live in their own crate, `crates/ticketlab-protocols`, whose only dependency is
//! serde: the compiler keeps tokio, sockets, libc and randomness out (checked below on the real
//! dependency tree). What the compiler cannot see — std's own clock, threads, files, environment,
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

/// Crates the protocol crate may depend on (normal dependencies, transitively).
const ALLOWED_DEPS: &[&str] = &[
    "ticketlab-protocols",
    "serde",
    "serde_core",
    "serde_derive",
    "proc-macro2",
    "quote",
    "syn",
    "unicode-ident",
];

#[test]
fn protocol_crate_depends_on_serde_only() {
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
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
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
