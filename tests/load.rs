//! Load: the open loop (`workload.rate`, Poisson or uniform arrivals), client latency measured
//! from the intended submission time (no coordinated omission), throughput after a warm-up, and
//! δ = 0 (no injected delay) — in the simulator, then once with real processes.

mod common;
use common::bin::{stderr, ticketlab};
use common::{load, p, run, run_seed};

use serde_json::Value;
use ticketlab::history::Event;
use ticketlab::protocol::Time;
use ticketlab::scenario::{Arrivals, OpenLoop};
use ticketlab::workload::ArrivalClock;

/// n = 5 in the simulator, δ = 1 ms, `tickets` generated round-robin; `extra` goes under
/// [workload].
fn open(tickets: u64, extra: &str) -> String {
    format!(
        "name = \"load\"\nseed = 3\n[cluster]\nservers = 5\nprotocols = [\"2pe\", \"se-gb\"]\n\
         mode = \"sim\"\ndelta_ms = 1.0\n[workload]\ntickets = {tickets}\n\
         submit_to = \"round-robin\"\n{extra}\n"
    )
}

/// Submission times of generated ticket k (1-based), in order.
fn submits(h: &[Event]) -> Vec<(String, Time)> {
    h.iter()
        .filter_map(|e| match e {
            Event::Submit { t_us, ticket, .. } => Some((ticket.0.clone(), *t_us)),
            _ => None,
        })
        .collect()
}

#[test]
fn open_loop_at_several_rates_counts_exactly_and_keeps_up() {
    for (rate, arrivals) in [(100, "poisson"), (1000, "uniform"), (5000, "poisson")] {
        let s = load(
            &open(2000, &format!("rate = {rate}\narrivals = \"{arrivals}\"")),
            &[],
        );
        for (proto, msgs) in [("2pe", 8.0), ("se-gb", 24.0)] {
            let (r, out) = run(&s, p(proto));
            let what = format!("{proto} at {rate}/s {arrivals}");
            assert_eq!(r.violations.len(), 0, "{what}");
            assert_eq!((r.accepted, r.undecided), (2000, 0), "{what}");
            // Tickets overlap (at 5000/s, 10 are in flight over 2δ), yet each costs exactly
            // its Table 1 count.
            assert_eq!(r.messages_per_ticket, msgs, "{what}");
            // Every ticket is decided 2δ after it arrived: the cluster keeps up, so the
            // throughput is the offered load, and the client latency the server's.
            let offered = r.offered_per_s.unwrap();
            let thr = r.throughput_per_s.unwrap();
            assert_eq!(thr, offered, "{what}");
            assert!(
                (offered / rate as f64 - 1.0).abs() < 0.1,
                "{what}: {offered}"
            );
            assert_eq!(r.client_latency_ms, r.latency_ms, "{what}");
            assert_eq!(r.client_latency_ms.max, Some(2.0), "{what}");
            assert_eq!(
                (r.warmup_ms > 0.0, r.measured_tickets),
                (true, 1800),
                "{what}"
            );
            // The run spans the arrivals: 2000 tickets at `rate` take about 2000/rate s.
            let last = submits(&out.history).last().unwrap().1 as f64 / 1e6;
            assert!(
                (last * rate as f64 / 1999.0 - 1.0).abs() < 0.1,
                "{what}: {last}"
            );
        }
    }
}

#[test]
fn uniform_arrivals_are_spaced_exactly() {
    let s = load(&open(50, "rate = 2000\narrivals = \"uniform\""), &[]);
    let (r, out) = run(&s, p("2pe"));
    let subs = submits(&out.history);
    assert_eq!(subs.len(), 50);
    for (k, (ticket, t)) in subs.iter().enumerate() {
        assert_eq!(ticket, &format!("t{}", k + 1));
        assert_eq!(*t, k as Time * 500, "every 1/2000 s");
    }
    // 45 gaps of exactly 500 µs after the warm-up (the first 5 tickets).
    assert_eq!(r.offered_per_s, Some(2000.0));
    // A rate that does not divide a second: the k-th arrival at round(k / rate), no drift.
    let clock = ArrivalClock::new(
        OpenLoop {
            rate: 3.0,
            arrivals: Arrivals::Uniform,
        },
        9,
        1000,
    );
    let at: Vec<Time> = clock.take(4).collect();
    assert_eq!(at, vec![1000, 334_333, 667_667, 1_001_000]);
}

#[test]
fn poisson_arrivals_are_seeded_and_their_mean_gap_is_one_over_the_rate() {
    let shape = OpenLoop {
        rate: 2500.0,
        arrivals: Arrivals::Poisson,
    };
    let sample = |seed| {
        ArrivalClock::new(shape, seed, 0)
            .take(200_001)
            .collect::<Vec<_>>()
    };
    let a = sample(11);
    assert_eq!(a, sample(11), "the same seed, the same arrivals");
    assert_ne!(a, sample(12));
    let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    // Mean 400 µs; the standard error of 200,000 exponential gaps is 400/√200000 ≈ 0.9 µs.
    assert!((mean - 400.0).abs() < 4.0, "mean gap {mean} µs");
    // Exponential: the standard deviation is the mean too, and a gap exceeds the mean with
    // probability 1/e.
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    assert!((var.sqrt() / mean - 1.0).abs() < 0.02, "sd {}", var.sqrt());
    let above = gaps.iter().filter(|&&g| g > 400.0).count() as f64 / gaps.len() as f64;
    assert!((above - (-1.0f64).exp()).abs() < 0.01, "{above}");

    // Through a run: the same seed gives the same history; another seed other arrivals.
    let s = load(&open(200, "rate = 800"), &[]);
    let (_, x) = run_seed(&s, p("2pe"), 5);
    let (_, y) = run_seed(&s, p("2pe"), 5);
    let (_, z) = run_seed(&s, p("2pe"), 6);
    assert_eq!(x.history, y.history);
    assert_ne!(submits(&x.history), submits(&z.history));
    // The simulator submits each ticket exactly at its arrival.
    let want: Vec<Time> = ArrivalClock::new(
        OpenLoop {
            rate: 800.0,
            arrivals: Arrivals::Poisson,
        },
        5,
        0,
    )
    .take(200)
    .collect();
    let got: Vec<Time> = submits(&x.history).iter().map(|s| s.1).collect();
    assert_eq!(got, want);
}

#[test]
fn a_lone_tickets_client_latency_is_its_server_latency_in_the_simulator() {
    for extra in ["", "rate = 10"] {
        let s = load(&open(1, extra), &[]);
        for proto in ["2pe", "se-gb"] {
            let (r, _) = run(&s, p(proto));
            assert_eq!(r.client_latency_ms, r.latency_ms, "{proto} {extra}");
            assert_eq!(r.client_latency_ms.p50, Some(2.0));
            // No warm-up with one ticket: from the start to its answer.
            assert_eq!((r.warmup_ms, r.measured_interval_ms), (0.0, 2.0));
            assert_eq!(r.throughput_per_s, Some(500.0));
        }
    }
    // Closed loop: no offered load.
    let (r, _) = run(&load(&open(20, "concurrency = 2"), &[]), p("2pe"));
    assert_eq!(r.offered_per_s, None);
    assert!(r.throughput_per_s.is_some());
}

/// s1 is paused from 5 ms to 65 ms while tickets keep arriving for it every ms: each waits at
/// s1 until it resumes. The server's latency starts at its receipt (after the pause) and stays
/// 2δ; the client's starts at the ticket's arrival, so it holds the wait.
#[test]
fn coordinated_omission_a_paused_server_delays_the_client_not_the_server() {
    let text = open(
        200,
        "rate = 1000\narrivals = \"uniform\"\n\n[[fault]]\nat_ms = 5\npause = [1]\n\
         [[fault]]\nat_ms = 65\nresume = [1]\n",
    )
    .replace("submit_to = \"round-robin\"", "submit_to = [1]");
    let s = load(&text, &[]);
    let (r, out) = run(&s, p("2pe"));
    assert_eq!((r.accepted, r.violations.len()), (200, 0));
    let at = |kind: &str, k: u64| {
        out.history
            .iter()
            .find_map(|e| match e {
                Event::Submit { t_us, ticket, .. }
                    if kind == "submit" && ticket.0 == format!("t{k}") =>
                {
                    Some(*t_us)
                }
                Event::Decide { t_us, ticket, .. }
                    if kind == "decide" && ticket.0 == format!("t{k}") =>
                {
                    Some(*t_us)
                }
                _ => None,
            })
            .unwrap()
    };
    // By hand: ticket k arrived at (k − 1) ms.
    let mut client: Vec<Time> = (1..=200)
        .map(|k| at("decide", k) - (k - 1) * 1000)
        .collect();
    for k in 10..=60 {
        // Arrived during the pause: received at the resume, decided 2δ later.
        assert_eq!(at("submit", k), 65_000, "t{k}");
        assert_eq!(
            at("decide", k) - at("submit", k),
            2000,
            "t{k}: the server saw 2δ"
        );
        assert_eq!(client[k as usize - 1], 67_000 - (k - 1) * 1000, "t{k}");
    }
    client.sort_unstable();
    let ms = |us: Time| us as f64 / 1000.0;
    assert_eq!(r.client_latency_ms.max, Some(ms(*client.last().unwrap())));
    assert_eq!(r.client_latency_ms.p50, Some(ms(client[99])));
    assert!(r.client_latency_ms.max >= Some(60.0));
    // The server's figures hide the pause: 2δ for all but the few tickets caught mid-way.
    assert_eq!(r.latency_ms.p90, Some(2.0));
    assert!(
        r.client_latency_ms.p90 > Some(20.0),
        "{:?}",
        r.client_latency_ms
    );
}

#[test]
fn duplicates_scripted_tickets_deadlines_and_forgeries_keep_working_under_open_loop() {
    let text = open(
        400,
        "rate = 2000\nduplicates = 0.3\nduplicate_gap_ms = 0.5\nforged = 0.1\ntampered = 0.1\n\
         deadline_ms = 50\n\n[[ticket]]\nid = \"tau\"\nsubmit = [{ server = 2, at_ms = 3 }, \
         { server = 4, at_ms = 3 }]\n[[fault]]\nat_ms = 40\ncrash = [5]\n",
    );
    let s = load(&text, &[]);
    for proto in ["2pe", "se-gb"] {
        let (r, out) = run(&s, p(proto));
        assert_eq!(r.violations.len(), 0, "{proto}");
        assert!(r.forged_rejected > 0 && r.tampered_rejected > 0, "{proto}");
        assert_eq!(r.tickets, 401, "{proto}");
        assert_eq!(r.accepted + r.rejected + r.undecided, 401, "{proto}");
        // Some malicious users' duplicates got answers too: more answers than tickets.
        assert!(r.decisions > r.accepted, "{proto}");
        assert_eq!(common::decisions(&out.history, "tau").len(), 2, "{proto}");
        assert!(r.stalled.is_empty(), "{proto}: {:?}", r.stalled);
        assert!(
            r.throughput_per_s.is_some() && r.offered_per_s.is_some(),
            "{proto}"
        );
    }
}

#[test]
fn delta_zero_in_the_simulator_reports_microseconds_and_no_delta_unit() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "run",
            "--sim",
            "--set",
            "cluster.delta_ms=0",
            "--set",
            "workload.rate=2000",
            "--set",
            "workload.tickets=300",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("δ = 0 ms"), "{table}");
    assert!(
        table.contains("0µs (2)") || table.contains("0µs (2δ)"),
        "{table}"
    );
    assert!(table.contains("latency in µs"), "{table}");
    assert!(table.contains("offered"), "{table}");
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    assert!(!table.contains("inf") && !table.contains("NaN"), "{table}");
    let text = std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["delta_ms"], 0.0);
    assert_eq!(v["rate_per_s"], 2000.0);
    assert_eq!(v["concurrency"], Value::Null);
    for run in v["runs"].as_array().unwrap() {
        // No unit δ: null; the ms figures are the machine's (0 in the simulator).
        assert_eq!(run["latency_delta"]["max"], Value::Null, "{run}");
        assert_eq!(run["latency_ms"]["max"], 0.0, "{run}");
        assert_eq!(run["client_latency_ms"]["p99"], 0.0, "{run}");
        assert_eq!(run["undecided"], 0, "{run}");
        // Decided as they arrive: the throughput is the offered load, exactly.
        assert_eq!(run["throughput_per_s"], run["offered_per_s"], "{run}");
    }
    // The δ = 0 rows of markdown and CSV are in ms, never inf or NaN.
    let md = ticketlab(
        &[
            "run",
            "--sim",
            "--set",
            "cluster.delta_ms=0",
            "--format",
            "markdown",
            "--out",
            "md",
        ],
        dir.path(),
    );
    let md = String::from_utf8_lossy(&md.stdout).into_owned();
    assert!(
        md.contains("| ms max (theory) |") && md.contains("(2δ)"),
        "{md}"
    );
    let csv = ticketlab(
        &[
            "run",
            "--sim",
            "--set",
            "cluster.delta_ms=0",
            "--format",
            "csv",
            "--out",
            "csv",
        ],
        dir.path(),
    );
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(!csv.contains("inf") && !csv.contains("NaN"), "{csv}");
}

#[test]
fn the_builtin_table1_takes_an_open_loop_from_set() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "run",
            "--sim",
            "--set",
            "workload.rate=2000",
            "--set",
            "workload.tickets=3000",
            "--format",
            "json",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["arrivals"], "poisson");
    for run in v["runs"].as_array().unwrap() {
        assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
        assert_eq!(run["accepted"], 3000, "{run}");
        // se-opt decides in batches up to 8δ apart: over 1.5 s the ends of the measured
        // interval move the throughput a few percent off the offered load.
        let thr = run["throughput_per_s"].as_f64().unwrap();
        let offered = run["offered_per_s"].as_f64().unwrap();
        assert!((thr / offered - 1.0).abs() < 0.1, "{run}");
        // The client waits at least as long as the server works.
        assert!(run["client_latency_ms"]["p50"].as_f64() >= run["latency_ms"]["p50"].as_f64());
    }
}

/// One real-process run at δ = 0 in the open loop: the machine's own latency. Counts stay
/// exact; the client, told by the orchestrator after the server decided, never sees less than
/// the server's latency.
#[test]
fn delta_zero_open_loop_with_real_processes() {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("load{}", std::process::id());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args(["run", "--run-id", &id])
        .args([
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.servers=3",
            "--set",
            "cluster.delta_ms=0",
            "--set",
            "cluster.suspect_after_ms=3000",
            "--set",
            "cluster.protocols=[\"2pe\"]",
            "--set",
            "workload.rate=500",
            "--set",
            "workload.tickets=300",
            "--format",
            "json",
            "--out",
            "out",
        ])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !common::procs::processes_with(&id).is_empty() {
        assert!(std::time::Instant::now() < until, "servers left behind");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["mode"].as_str(), v["delta_ms"].as_f64()),
        (Some("processes"), Some(0.0))
    );
    let run = &v["runs"][0];
    assert_eq!(run["messages_per_ticket"], 4.0, "{run}");
    assert_eq!(run["accepted"], 300, "{run}");
    assert_eq!(run["violations"].as_array().unwrap().len(), 0);
    assert_eq!(run["latency_delta"]["p50"], Value::Null);
    let f = |k: &str, q: &str| run[k][q].as_f64().unwrap();
    for q in ["p50", "p99", "max"] {
        assert!(f("latency_ms", q) > 0.0, "{q}: {run}");
        assert!(
            f("client_latency_ms", q) >= f("latency_ms", q),
            "{q}: {run}"
        );
    }
    assert!(run["offered_per_s"].as_f64().unwrap() > 0.0);
    assert!(run["throughput_per_s"].as_f64().unwrap() > 0.0);
}
