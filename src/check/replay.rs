//! A counterexample path as a scenario the simulator replays (`ticketlab run FILE --sim
//! --strict`), and the replay itself, to confirm it.
//!
//! The encoding gives step k of the path a time T_k (1 ms apart, closer only when a protocol
//! timer forces it) and makes every input happen exactly then:
//! - a submission is a scripted `[[ticket]]` submission at T_k;
//! - a delivery: before the step that sent the message (at its time T_s), a `delay` fault sets
//!   that link's delay to T_k − T_s, so the message arrives at T_k (faults at an instant fire
//!   before anything else at it). Messages never delivered get a delay past the end of the path;
//!   those a crash loses arrive after the crash, when the simulator drops them;
//! - a crash is `crash = [s]` at T_k; a crash suspicion `suspect = { by, server }` held for
//!   good; a false suspicion, the same for 1 µs, which (like the search's) ends at the next
//!   message from the suspected server;
//! - a protocol timer fires by itself at its set time + delay: the schedule is built so that this
//!   instant is T_k;
//! - the heartbeat failure detector is kept silent (`heartbeat_ms` far beyond the run), as in the
//!   search.
//!
//! What the simulator cannot express: two messages sent in one step on one link arrive together
//! (their delay is set per link), so a path that delivers them apart, with other inputs of the
//! receiver in between, is approximated. The replay is run to say whether the violation
//! reproduces, and any approximation is reported.

use super::model::{Engine, Packet, State, Step};
use super::{Found, Kind};
use crate::checker;
use crate::history::Event;
use crate::lab::Runtime;
use crate::protocol::{Msg, ServerId, Time};
use crate::scenario::{
    self, Cluster, Fault, FaultAction, Mode, Scenario, ScriptedTicket, Submission, SubmitTo,
    Workload,
};
use std::collections::BTreeMap;
use std::path::Path;

/// δ of the replay scenario (every message's delay is set by a fault; δ only matters for
/// protocols that time on it, and the search's protocols see the same value).
pub const DELTA_US: Time = 1_000;
/// The heartbeat period of the replay: far beyond any run, so the detector never ticks.
pub const HEARTBEAT_US: Time = 1_000_000_000_000;
pub const SUSPECT_AFTER_US: Time = 2_000_000_000_000;
/// A suspicion of a crashed server, held for good (µs).
const FOREVER_US: Time = 1_000_000_000_000;
/// Users' deadline in the replay: a ticket undecided this long after its last submission is
/// undecided (`--strict` fails it).
const DEADLINE_US: Time = 60_000_000;
/// Undelivered messages and unmade submissions come this long after the end of the path.
const AFTER_END_US: Time = 1_000_000;

/// One message of the path.
#[derive(Clone, Debug)]
struct Sent {
    from: ServerId,
    to: ServerId,
    step: u32,
    kind: &'static str,
    delivered: Option<u32>,
}

/// What re-executing the path recorded.
struct Recorded {
    steps: Vec<Step>,
    /// Per step (1-based index − 1): the timer firing's (set step, delay).
    timer_of: BTreeMap<u32, (u32, Time)>,
    /// Every message, by id, in send order.
    sent: BTreeMap<u64, Sent>,
    /// Per step: what it did besides its input (sends and decisions), for the trace.
    effects: Vec<Vec<String>>,
    /// Timers still pending at live servers at the end: (set step, delay).
    pending_timers: Vec<(u32, Time)>,
    final_state: State,
}

fn describe_msg(m: &Msg) -> String {
    match m.ticket() {
        Some(t) => format!("{} {t}", m.kind()),
        None => m.kind().to_string(),
    }
}

fn record(engine: &mut Engine, root: &State, path: &[Step]) -> Recorded {
    let mut st = root.clone();
    let mut rec = Recorded {
        steps: path.to_vec(),
        timer_of: BTreeMap::new(),
        sent: BTreeMap::new(),
        effects: Vec::new(),
        pending_timers: Vec::new(),
        final_state: st.clone(),
    };
    let collect_sent = |st: &State, step: u32, sent: &mut BTreeMap<u64, Sent>| {
        let mut new = Vec::new();
        for link in &st.links {
            for p in link {
                if p.sent_at == step && !sent.contains_key(&p.id) {
                    new.push(p.clone());
                }
            }
        }
        new.sort_by_key(|p: &Packet| p.id);
        let mut lines = Vec::new();
        for p in new {
            let (from, to) = find_link(st, p.id);
            lines.push(format!("sends {} to s{to}", describe_msg(&p.msg)));
            sent.insert(
                p.id,
                Sent {
                    from,
                    to,
                    step,
                    kind: p.msg.kind(),
                    delivered: None,
                },
            );
        }
        lines
    };
    collect_sent(&st, 0, &mut rec.sent);
    for (i, &step) in path.iter().enumerate() {
        let k = i as u32 + 1;
        match step {
            Step::Deliver { from, to } => {
                let n = engine.model.n;
                let link = usize::from(from - 1) * usize::from(n) + usize::from(to - 1);
                let head = st.links[link].front().expect("enabled delivery");
                if let Some(s) = rec.sent.get_mut(&head.id) {
                    s.delivered = Some(k);
                }
            }
            Step::Timer { server, timer } => {
                let t = st.timers[&(server, timer)];
                rec.timer_of.insert(k, (t.set_at, t.after));
            }
            _ => {}
        }
        let facts_before = st.facts.len();
        let (next, _) = engine.apply(&st, step);
        st = next;
        let mut lines = collect_sent(&st, k, &mut rec.sent);
        for e in &st.facts[facts_before..] {
            match e {
                Event::Decide {
                    ticket,
                    server,
                    outcome,
                    phase,
                    ..
                } => lines.push(format!(
                    "s{server} decides {ticket}: {}{}",
                    match outcome {
                        crate::protocol::Outcome::Accept => "ACCEPT",
                        crate::protocol::Outcome::Reject => "reject",
                    },
                    phase.map(|p| format!(" (phase {p})")).unwrap_or_default()
                )),
                Event::Crash { server, .. } if !matches!(step, Step::Crash { .. }) => {
                    lines.push(format!("s{server} halts"))
                }
                _ => {}
            }
        }
        rec.effects.push(lines);
    }
    rec.pending_timers = st.timers.values().map(|t| (t.set_at, t.after)).collect();
    rec.final_state = st;
    rec
}

fn find_link(st: &State, id: u64) -> (ServerId, ServerId) {
    let n = st.nodes.len();
    for (i, link) in st.links.iter().enumerate() {
        if link.iter().any(|p| p.id == id) {
            return ((i / n) as ServerId + 1, (i % n) as ServerId + 1);
        }
    }
    unreachable!("a packet just sent is on a link")
}

/// Times T_0 = 0 (the servers' start), T_1..T_L for the steps; `None` when no gap fits the
/// protocol timers.
fn schedule(rec: &Recorded) -> Option<Vec<Time>> {
    'gap: for gap in [1_000, 100, 10, 1] {
        let mut t: Vec<Time> = vec![0];
        for k in 1..=rec.steps.len() as u32 {
            let prev = t[k as usize - 1];
            let at = match rec.timer_of.get(&k) {
                Some(&(set, after)) => t[set as usize] + after,
                None => prev + gap,
            };
            if at <= prev {
                continue 'gap;
            }
            t.push(at);
        }
        let end = *t.last().expect("T_0");
        // A timer left pending must not fire inside the path (after a safety violation it may).
        let early = rec
            .pending_timers
            .iter()
            .any(|&(set, after)| t[set as usize] + after <= end);
        if !early {
            return Some(t);
        }
    }
    None
}

fn step_line(step: &Step, engine: &Engine, rec: &Recorded, k: u32) -> String {
    let tickets = &engine.model.tickets;
    match *step {
        Step::Submit { ticket, server } => {
            format!(
                "a user submits {} to s{server}",
                tickets[usize::from(ticket)].0
            )
        }
        Step::Deliver { from, to } => {
            let kind = rec
                .sent
                .values()
                .find(|s| s.delivered == Some(k))
                .map_or("?", |s| s.kind);
            format!("s{to} receives {kind} from s{from}")
        }
        Step::Timer { server, timer } => format!("s{server}'s timer {timer:?} fires"),
        Step::Crash { server } => format!("s{server} crashes"),
        Step::SuspectCrashed { by, server } => format!("s{by} suspects s{server} (crashed)"),
        Step::FalseSuspicion { by, server } => {
            format!("s{by} falsely suspects s{server} (until it next hears from it)")
        }
    }
}

/// Describe, time, write and replay the counterexample `path`.
pub fn counterexample(
    engine: &mut Engine,
    root: &State,
    path: &[Step],
    kind: Kind,
    out: &Path,
    runtime: &dyn Runtime,
) -> anyhow::Result<Found> {
    let rec = record(engine, root, path);
    let model = engine.model.clone();
    let claims = model.protocol.properties();
    let mut notes = Vec::new();
    let times = match schedule(&rec) {
        Some(t) => t,
        None => {
            notes.push(
                "protocol timers: no schedule makes every timer fire at its step; the replay \
                 approximates"
                    .to_string(),
            );
            (0..=path.len() as Time).map(|k| k * 1_000).collect()
        }
    };
    let end = *times.last().expect("T_0");
    let at = |k: u32| times[k as usize];

    // The trace, with the replay's times.
    let mut trace = Vec::new();
    for (i, step) in path.iter().enumerate() {
        let k = i as u32 + 1;
        let mut line = format!(
            "[{:>8.3} ms] {}",
            at(k) as f64 / 1000.0,
            step_line(step, engine, &rec, k)
        );
        for e in &rec.effects[i] {
            line.push_str("; ");
            line.push_str(e);
        }
        trace.push(line);
    }

    // What the checker says about the path's history, at the replay's times.
    let facts: Vec<Event> = rec
        .final_state
        .facts
        .iter()
        .map(|e| retime(e, &times))
        .collect();
    let checked = checker::check(&facts);
    let violations = checked.claimed(claims);
    let mut details: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    let mut properties: Vec<String> = violations
        .iter()
        .map(|v| v.property().name().to_string())
        .collect();
    if kind == Kind::Liveness {
        for t in checked.stalled_for(claims) {
            details.push(format!(
                "liveness: ticket {t} is undecided in a quiescent state (nothing left to \
                 deliver, no timer, every crash suspected) although the crashes are within {}'s \
                 fault model",
                model.protocol
            ));
        }
        let live = if claims.contains(&crate::protocol::Property::E2) {
            "E-2"
        } else {
            "E-2'"
        };
        properties.push(format!("{live} (undecided)"));
    }
    properties.dedup();

    // The scenario.
    let mut subs: BTreeMap<u8, Vec<Submission>> = BTreeMap::new();
    let submissions = model.submissions();
    for (k, step) in path.iter().enumerate() {
        if let Step::Submit { ticket, server } = *step {
            subs.entry(ticket).or_default().push(Submission {
                server,
                at: at(k as u32 + 1),
            });
        }
    }
    for &(ticket, server) in &submissions {
        let made = path.contains(&Step::Submit { ticket, server });
        if !made {
            // Never made on the path: after its end (refused if the server crashed).
            subs.entry(ticket).or_default().push(Submission {
                server,
                at: end + AFTER_END_US,
            });
        }
    }
    let tickets: Vec<ScriptedTicket> = model
        .tickets
        .iter()
        .enumerate()
        .map(|(i, (t, _))| ScriptedTicket {
            id: t.0.clone(),
            submit: subs.remove(&(i as u8)).unwrap_or_default(),
        })
        .collect();

    // Faults: (time, order at that time, fault). Delays go before the step at the same time.
    let mut faults: Vec<(Time, u8, Fault)> = Vec::new();
    let mut by_step_link: BTreeMap<(u32, ServerId, ServerId), Vec<&Sent>> = BTreeMap::new();
    for s in rec.sent.values() {
        by_step_link
            .entry((s.step, s.from, s.to))
            .or_default()
            .push(s);
    }
    for ((step, from, to), msgs) in &by_step_link {
        let first = msgs[0];
        let arrive = match first.delivered {
            Some(d) => at(d),
            None => end + AFTER_END_US,
        };
        if *step == 0 {
            notes.push(format!(
                "s{from} sent {} to s{to} in on_start: it takes δ in the replay",
                first.kind
            ));
            continue;
        }
        faults.push((
            at(*step),
            0,
            Fault {
                at: at(*step),
                after: None,
                action: FaultAction::Delay {
                    from: vec![*from],
                    to: vec![*to],
                    delay: arrive - at(*step),
                },
            },
        ));
        if msgs.len() > 1 {
            let steps: Vec<Option<u32>> = msgs.iter().map(|m| m.delivered).collect();
            let together = steps.iter().all(|d| d.is_none())
                || steps.windows(2).all(|w| match (w[0], w[1]) {
                    (Some(a), Some(b)) => b == a + 1,
                    _ => false,
                });
            if !together {
                let at: Vec<String> = steps
                    .iter()
                    .map(|d| d.map_or("never".to_string(), |k| format!("step {k}")))
                    .collect();
                notes.push(format!(
                    "s{from} sent {} messages to s{to} in step {step}; the simulator delivers \
                     them together at {:.3} ms, the path at {}",
                    msgs.len(),
                    arrive as f64 / 1000.0,
                    at.join(", ")
                ));
            }
        }
    }
    for (i, step) in path.iter().enumerate() {
        let t = at(i as u32 + 1);
        let action = match *step {
            Step::Crash { server } => FaultAction::Crash(vec![server]),
            Step::SuspectCrashed { by, server } => FaultAction::Suspect {
                by,
                server,
                duration: FOREVER_US,
            },
            Step::FalseSuspicion { by, server } => FaultAction::Suspect {
                by,
                server,
                duration: 1,
            },
            _ => continue,
        };
        faults.push((
            t,
            1,
            Fault {
                at: t,
                after: None,
                action,
            },
        ));
    }
    faults.sort_by_key(|(t, o, _)| (*t, *o));
    let name = format!(
        "check-{}-n{}-t{}",
        model.protocol.name(),
        model.n,
        model.tickets.len()
    );
    let scenario = Scenario {
        name: name.clone(),
        seed: Some(model.cfg.seed),
        cluster: Cluster {
            servers: model.n,
            protocols: vec![model.protocol],
            baselines: Vec::new(),
            mode: Mode::Sim,
            delta: DELTA_US,
            jitter: 0,
            heartbeat: HEARTBEAT_US,
            suspect_after: SUSPECT_AFTER_US,
            byzantine_max: 0,
            allow_unsafe: false,
            remote: Default::default(),
        },
        workload: Workload {
            tickets: 0,
            concurrency: 1,
            open: None,
            think: 0,
            submit_to: SubmitTo::Random,
            duplicates: 0.0,
            duplicate_gap: 0,
            deadline: DEADLINE_US,
            forged: 0.0,
            tampered: 0.0,
            stop_at_first_timeout: false,
        },
        tickets,
        faults: faults.into_iter().map(|(_, _, f)| f).collect(),
        resilience: None,
        byzantine: None,
    };
    let header = {
        let mut h = format!(
            "Found by `ticketlab check` ({}, n = {}, {} {}): a shortest counterexample, {} steps.\n",
            model.protocol,
            model.n,
            properties.join(", "),
            if kind == Kind::Safety {
                "violated"
            } else {
                "fails at quiescence"
            },
            path.len()
        );
        for d in &details {
            h.push_str(d);
            h.push('\n');
        }
        h.push_str("The interleaving (every input of every server at its time):\n");
        for (i, l) in trace.iter().enumerate() {
            h.push_str(&format!("{:>3}. {l}\n", i + 1));
        }
        for note in &notes {
            h.push_str(&format!("replay note: {note}\n"));
        }
        h
    };
    std::fs::create_dir_all(out)?;
    let file = out.join(format!("{name}.toml"));
    let text = scenario::to_toml(&scenario, &header);
    let header_tail = format!(
        "Reproduce: ticketlab run {} --sim --strict (exits 1)",
        file.display()
    );
    let text = format!("# {header_tail}\n{text}");
    std::fs::write(&file, &text)?;

    // Replay the file as written.
    let loaded = scenario::load(&file.display().to_string(), &text, &[])
        .map_err(|e| anyhow::anyhow!("the counterexample scenario does not load back: {e}"))?;
    let run = runtime
        .run(&loaded, model.protocol, model.cfg.seed)
        .completed()?;
    let replayed = checker::check(&run.history);
    let reproduced = !replayed.claimed(claims).is_empty()
        || (kind == Kind::Liveness && !replayed.stalled_for(claims).is_empty());
    Ok(Found {
        kind: match kind {
            Kind::Safety => "safety",
            Kind::Liveness => "liveness",
        },
        properties,
        details,
        trace,
        steps: path.len(),
        file: Some(file.display().to_string()),
        replay_reproduced: reproduced,
        replay_notes: notes,
    })
}

/// An event of the search's history (`t_us` = step index) at the replay's time.
fn retime(e: &Event, times: &[Time]) -> Event {
    e.clone().at(times[e.time() as usize])
}
