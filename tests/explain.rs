//! Runs that explain themselves: the terminal table fits 80 columns without breaking a word,
//! marks its theory columns as fault-free-only when the run has scripted tickets or faults, and
//! tells each scripted ticket's story (who decided what, when, in which phase, why).

mod common;

use common::*;
use ticketlab::report::{self, Summary};
use ticketlab::scenario::Mode;

fn table(file: &str, text: &str) -> String {
    let s = load(text, &[]);
    let mut summary = Summary::new(&s, s.seed.unwrap_or(1), Mode::Sim);
    for &p in &s.cluster.protocols {
        let (r, _) = run(&s, p);
        summary.runs.push(r);
    }
    let out = report::render_table(&summary);
    for line in out.lines() {
        assert!(
            line.chars().count() <= 80,
            "{file}: {} columns: {line}",
            line.chars().count()
        );
    }
    out
}

#[test]
fn figure5_and_6_say_who_decided_what_and_why_within_80_columns() {
    let t = table("figure5", include_str!("../scenarios/figure5.toml"));
    assert!(
        t.contains("Theory is for fault-free, uncontended runs"),
        "{t}"
    );
    assert!(
        t.contains("2pe, ticket tau: received by s1 at 0 ms, s5 at 25 ms"),
        "{t}"
    );
    assert!(
        t.contains("s1 accepts in Phase 1 at 20 ms — Phase 1: Replies = {s1}"),
        "{t}"
    );
    assert!(t.contains("s5 rejects in Phase 2 at"), "{t}");
    let t = table("figure6", include_str!("../scenarios/figure6.toml"));
    assert!(t.contains("s5 accepts in Phase 2 at 100 ms"), "{t}");
    assert!(t.contains("s2 rejects in Phase 2 at 70 ms"), "{t}");
}

#[test]
fn figures_1_and_2_tell_the_crash_and_both_protocols_outcomes() {
    let t = table("figure1", include_str!("../scenarios/figure1.toml"));
    assert!(t.contains("alo-2pe, ticket tau"), "{t}");
    assert!(t.contains("s1 crashes at 15 ms"), "{t}");
    let t = table("figure2", include_str!("../scenarios/figure2.toml"));
    assert!(t.contains("s2 accepts in Phase 2"), "{t}");
    assert!(t.contains("DONE closed it"), "{t}");
}

#[test]
fn no_header_word_is_broken_and_plain_runs_carry_no_caveat() {
    // Table 1 (no script, no fault): the theory applies; long protocol names break only after
    // a hyphen.
    let t = table("table1", ticketlab::scenario::BUILTIN_TABLE1);
    assert!(!t.contains("Theory is for fault-free"), "{t}");
    for word in [
        "tolerates",
        "(theory)",
        "accepted",
        "rejected",
        "undecided",
        "violated",
    ] {
        assert!(t.contains(word), "{word} broken in\n{t}");
    }
    let seeds = table("seeds", include_str!("../scenarios/seeds.toml"));
    assert!(seeds.contains("uncontended"), "{seeds}");
    assert!(seeds.contains("bft-fleet"), "{seeds}");
}
