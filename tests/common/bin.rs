//! Running the `ticketlab` binary from the end-to-end tests (simulator mode).

use std::path::Path;
use std::process::{Command, Output};

/// `ticketlab ARGS` run in `cwd`, to completion.
pub fn ticketlab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
