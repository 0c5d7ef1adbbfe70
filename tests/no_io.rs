//! Architecture invariant: protocol code is a deterministic state machine with no I/O.
//! Nothing under src/protocol/ may touch a runtime, a socket, a thread, a clock, an unseeded (or
//! any) RNG, or an iteration-order-random map.

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

#[test]
fn protocol_code_does_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol");
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
