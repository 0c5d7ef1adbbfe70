//! Baseline rows (`"etcd"` in `cluster.protocols`): a real store on the same workload. Their
//! history is checked like a protocol's (E-1, E-2 on its `decide` events per server), but they
//! have no δ (their links are not the lab's), no message count (their messages are not the
//! lab's to see) and no theory row: those figures are `null` in `summary.json` and "n/a" in the
//! table, never made up.

use super::{fmt_num, stats, tally, wrap, BadAdmitted, Stats, Summary};
use crate::checker::Violation;
use crate::history::Rejection;
use crate::lab::RunOutput;
use crate::latency::Latencies;
use crate::protocol::{Property, Theory, Ticket};
use crate::scenario::{Baseline, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a baseline store says it is, and what it did beyond the history.
#[derive(Clone, Debug, Default)]
pub struct StoreFacts {
    /// e.g. "etcd 3.4.23".
    pub store: String,
    /// Requests sent to the store (retries included).
    pub transactions: u64,
    pub retries: u64,
    /// Submissions whose every attempt failed (left undecided).
    pub failed: u64,
}

/// One baseline row of `summary.json` (`baselines`).
#[derive(Clone, Debug, Serialize)]
pub struct BaselineSummary {
    /// The name in `cluster.protocols`: "etcd".
    pub protocol: Baseline,
    /// The store and its version, e.g. "etcd 3.4.23".
    pub store: String,
    /// Members of the store's cluster (= `cluster.servers`).
    pub members: u16,
    pub tickets: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub undecided: u64,
    /// Client-observed latency (the user hands the ticket to member s_i → s_i's transaction
    /// answers), over every decision, ms.
    pub latency_ms: Stats,
    /// Always null: the store's links are not delayed by the lab's δ.
    pub latency_delta: Option<Stats>,
    /// Always null: the store's own messages (raft) are not the lab's to count.
    pub messages_per_ticket: Option<f64>,
    pub messages: Option<u64>,
    /// Always null: no theory row.
    pub theory: Option<Theory>,
    /// Tickets decided per second of the measured interval (the warm-up excluded, as for the
    /// protocols' rows: docs/LOAD.md); (tickets − undecided) / duration when nothing was measured.
    pub throughput_per_s: Option<f64>,
    /// The users' latency (submission, from its intended time in an open loop → the answer), ms
    /// — the same figure as the protocols' `client_latency_ms`.
    pub client_latency_ms: Stats,
    /// The realized arrival rate after the warm-up (open loop only).
    pub offered_per_s: Option<f64>,
    /// From the users' start (the store healthy) to the last answer, ms.
    pub duration_ms: f64,
    /// Requests sent to the store, retries included.
    pub transactions: u64,
    pub retries: u64,
    /// Submissions whose every attempt failed (they stay undecided).
    pub failed_transactions: u64,
    /// The properties the row is held to: E-1, E-2.
    pub properties: Vec<Property>,
    pub violations: Vec<Violation>,
    pub unclaimed: BTreeMap<String, u64>,
    pub pending: Vec<Ticket>,
    pub stalled: Vec<Ticket>,
    /// Decisions at members (a duplicated ticket has two).
    pub decisions: u64,
    /// Reject decisions: submissions whose transaction found the ticket already used.
    pub rejected_submissions: u64,
    pub forged_rejected: u64,
    pub tampered_rejected: u64,
    pub expired_rejected: u64,
    pub bad_admitted: Vec<BadAdmitted>,
}

/// What a store validating with one linearizable compare-and-create per ticket claims.
pub const CLAIMS: &[Property] = &[Property::E1, Property::E2];

/// Tickets decided per second of a run of `duration_ms`.
pub fn throughput(tickets: u64, undecided: u64, duration_ms: f64) -> Option<f64> {
    let decided = tickets.saturating_sub(undecided) as f64;
    (duration_ms > 0.0).then(|| decided / (duration_ms / 1000.0))
}

/// A baseline row from its run's history.
pub fn summarize(
    scenario: &Scenario,
    baseline: Baseline,
    run: &RunOutput,
    facts: &StoreFacts,
) -> BaselineSummary {
    let tallied = crate::tally::Tallied::of(scenario, &run.history);
    let checked = &tallied.checked;
    let t = tally(&tallied);
    let mut lat = Latencies::default();
    for v in checked.tickets.values().flat_map(|f| f.latencies()) {
        lat.record(v);
    }
    let mut decisions = 0;
    let mut rejected_submissions = 0;
    let mut rejections: BTreeMap<Rejection, u64> = BTreeMap::new();
    for e in &run.history {
        match e {
            crate::history::Event::Decide { outcome, .. } => {
                decisions += 1;
                if *outcome == crate::protocol::Outcome::Reject {
                    rejected_submissions += 1;
                }
            }
            crate::history::Event::Refused {
                reason: Some(r), ..
            } => *rejections.entry(*r).or_insert(0) += 1,
            _ => {}
        }
    }
    let tickets = checked.tickets.len() as u64;
    let undecided = t.pending.len() as u64;
    let duration_ms = run.end as f64 / 1000.0;
    BaselineSummary {
        protocol: baseline,
        store: facts.store.clone(),
        members: scenario.cluster.servers,
        tickets,
        accepted: t.accepted,
        rejected: t.rejected,
        undecided,
        latency_ms: stats(&lat, 1000.0),
        latency_delta: None,
        messages_per_ticket: None,
        messages: None,
        theory: None,
        throughput_per_s: run
            .load
            .throughput_per_s()
            .or_else(|| throughput(tickets, undecided, duration_ms)),
        client_latency_ms: stats(&run.load.client, 1000.0),
        offered_per_s: run.load.offered_per_s,
        duration_ms,
        transactions: facts.transactions,
        retries: facts.retries,
        failed_transactions: facts.failed,
        properties: CLAIMS.to_vec(),
        violations: checked.claimed(CLAIMS),
        unclaimed: checked.unclaimed(CLAIMS),
        stalled: checked.stalled_for(CLAIMS),
        pending: t.pending,
        decisions,
        rejected_submissions,
        forged_rejected: rejections.get(&Rejection::Forged).copied().unwrap_or(0),
        tampered_rejected: rejections.get(&Rejection::Tampered).copied().unwrap_or(0),
        expired_rejected: rejections.get(&Rejection::Expired).copied().unwrap_or(0),
        bad_admitted: super::bad_admitted(checked),
    }
}

/// The row in the run table: no theory, "n/a" for δ and messages (see [`notes`]).
pub fn cells(b: &BaselineSummary) -> [String; 7] {
    [
        b.protocol.name().to_string(),
        String::new(),
        "n/a".into(),
        "n/a".into(),
        "n/a".into(),
        format!("{}/{}/{}", b.accepted, b.rejected, b.undecided),
        b.violations.len().to_string(),
    ]
}

/// Under the table when there are baselines: what "n/a" means, then every row's latency in ms
/// and throughput — the figures a baseline and a protocol share.
pub fn notes(summary: &Summary) -> String {
    if summary.baselines.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    for b in &summary.baselines {
        let line = format!(
            "n/a: {} is a baseline, not a protocol of the paper: a real {} cluster of {} \
             members, one compare-and-create transaction per submission (docs/BASELINE.md); \
             its links are not delayed by δ and its own messages are not counted, so it has \
             no δ figure, no message count and no theory; claims {}.",
            b.protocol,
            b.store,
            b.members,
            b.properties
                .iter()
                .map(|p| {
                    let n = b.violations.iter().filter(|v| v.property() == *p).count();
                    if n == 0 {
                        format!("{p} ✓")
                    } else {
                        format!("{p} ✗ violated {n}×")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        text.push_str(&wrap(&line, " ", 80, 0));
    }
    text.push_str("\nlatency seen by users, ms, and throughput (decided/s after the warm-up):");
    // A summary without the users' figures (an old one) falls back to what it has.
    fn client<'a>(c: &'a Stats, fallback: &'a Stats) -> &'a Stats {
        if c.p50.is_some() {
            c
        } else {
            fallback
        }
    }
    let rows = summary
        .runs
        .iter()
        .map(|r| {
            let t = r
                .throughput_per_s
                .or_else(|| throughput(r.tickets, r.undecided, r.duration_ms));
            (r.label(), client(&r.client_latency_ms, &r.latency_ms), t)
        })
        .chain(summary.baselines.iter().map(|b| {
            (
                b.protocol.to_string(),
                client(&b.client_latency_ms, &b.latency_ms),
                b.throughput_per_s,
            )
        }))
        .collect::<Vec<_>>();
    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (label, ms, t) in rows {
        text.push_str(&format!(
            "\n  {label:width$}  p50 {}  p99 {}  max {}  {} tickets/s",
            fmt_num(ms.p50),
            fmt_num(ms.p99),
            fmt_num(ms.max),
            t.map_or("—".to_string(), |t| format!("{t:.0}")),
        ));
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::Event;
    use crate::protocol::Outcome;
    use crate::scenario::Mode;

    fn decide(t_us: u64, ticket: &str, server: u16, outcome: Outcome) -> Event {
        Event::Decide {
            t_us,
            ticket: ticket.into(),
            server,
            outcome,
            phase: None,
            why: None,
        }
    }

    /// A duplicated ticket (accepted at s1, rejected at s2) and a plain one.
    fn row() -> (Scenario, BaselineSummary) {
        let s = crate::scenario::load(
            "t.toml",
            "name = \"t\"\n[cluster]\nservers = 3\nprotocols = [\"etcd\"]\n[workload]\ntickets = 2\n",
            &[],
        )
        .expect("valid");
        assert_eq!(s.cluster.baselines, vec![Baseline::Etcd]);
        assert!(s.cluster.protocols.is_empty());
        let submit = |t_us, ticket: &str, server| Event::Submit {
            t_us,
            ticket: ticket.into(),
            server,
        };
        let run = RunOutput {
            history: vec![
                submit(0, "t0", 1),
                submit(100, "t0", 2),
                submit(200, "t1", 3),
                decide(4_000, "t0", 1, Outcome::Accept),
                decide(5_100, "t0", 2, Outcome::Reject),
                decide(6_200, "t1", 3, Outcome::Accept),
            ],
            end: 10_000,
            ..RunOutput::default()
        };
        let facts = StoreFacts {
            store: "etcd 3.4.23".into(),
            transactions: 3,
            ..StoreFacts::default()
        };
        let b = summarize(&s, Baseline::Etcd, &run, &facts);
        (s, b)
    }

    #[test]
    fn a_baseline_row_counts_like_a_protocol_and_has_no_delta_messages_or_theory() {
        let (_, b) = row();
        assert_eq!(
            (b.tickets, b.accepted, b.rejected, b.undecided),
            (2, 2, 0, 0)
        );
        assert_eq!((b.decisions, b.rejected_submissions), (3, 1));
        assert!(b.violations.is_empty());
        assert_eq!(b.latency_ms.max, Some(6.0));
        assert_eq!(b.throughput_per_s, Some(200.0), "2 tickets in 10 ms");
        let json = serde_json::to_value(&b).unwrap();
        for k in ["latency_delta", "messages_per_ticket", "messages", "theory"] {
            assert!(json[k].is_null(), "{k}: {json}");
        }
        assert_eq!(json["protocol"], "etcd");
    }

    #[test]
    fn a_second_accept_is_an_e1_violation() {
        let (s, _) = row();
        let run = RunOutput {
            history: vec![
                Event::Submit {
                    t_us: 0,
                    ticket: "t0".into(),
                    server: 1,
                },
                Event::Submit {
                    t_us: 0,
                    ticket: "t0".into(),
                    server: 2,
                },
                decide(1_000, "t0", 1, Outcome::Accept),
                decide(1_000, "t0", 2, Outcome::Accept),
            ],
            end: 2_000,
            ..RunOutput::default()
        };
        let b = summarize(&s, Baseline::Etcd, &run, &StoreFacts::default());
        assert_eq!(b.violations.len(), 1, "{:?}", b.violations);
        assert_eq!(b.violations[0].property(), Property::E1);
    }

    /// A summary with one etcd row (`row`), for the other formats' tests.
    pub(crate) fn sample_summary() -> Summary {
        let (s, b) = row();
        let mut summary = Summary::new(&s, 1, Mode::Processes);
        summary.baselines.push(b);
        summary
    }

    #[test]
    fn the_table_shows_n_a_and_says_why_within_80_columns() {
        let summary = sample_summary();
        let table = super::super::render_table(&summary);
        let line = table
            .lines()
            .find(|l| l.contains("etcd") && l.contains('┆'))
            .unwrap_or_else(|| panic!("{table}"));
        assert_eq!(line.matches("n/a").count(), 3, "{line}");
        assert!(line.contains("2/0/0"), "{line}");
        assert!(table.contains("n/a: etcd is a baseline"), "{table}");
        assert!(
            table.contains("etcd  p50 5  p99 6  max 6  200 tickets/s"),
            "{table}"
        );
        assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["baselines"][0]["store"], "etcd 3.4.23");
    }
}
