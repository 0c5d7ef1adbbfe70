//! The users' state machine (`workload::Client`) on its own, driven by hand or by a tiny event
//! loop standing in for a runtime: closed loop, think time, duplicates, scripted submissions,
//! retries after a refusal or crash, deadlines, determinism, ticket counts.

use std::collections::{BTreeMap, BTreeSet};
use ticketlab::protocol::{ServerId, Ticket, Time};
use ticketlab::scenario::{self, Scenario};
use ticketlab::workload::{Client, ClientOut};

const MS: Time = 1_000;

/// A 3-server scenario with the given `[workload]` keys and extra TOML after it.
fn scenario(workload: &str, extra: &str) -> Scenario {
    let text = format!(
        "name = \"client\"\nseed = 1\n\n[cluster]\nservers = 3\nprotocols = [\"se-ct\"]\n\
         mode = \"sim\"\ndelta_ms = 10.0\n\n[workload]\n{workload}\n\n{extra}\n"
    );
    scenario::load("client.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn client(s: &Scenario) -> Client {
    Client::new(s, 7)
}

fn submit(at: Time, ticket: &str, server: ServerId) -> ClientOut {
    ClientOut::Submit {
        at,
        ticket: Ticket(ticket.into()),
        server,
    }
}

fn t(name: &str) -> Ticket {
    Ticket(name.into())
}

/// Generated tickets are t1, t2, … (`scenario::generated_ticket_id`).
fn is_generated(ticket: &Ticket) -> bool {
    ticket
        .0
        .strip_prefix('t')
        .is_some_and(|k| k.parse::<u64>().is_ok())
}

/// A runtime in miniature: every submission is accepted when due (unless its server is in
/// `down`), and the server decides `service` later. Returns every submission handed over, in
/// order, and checks the closed loop: at most `limit` generated tickets in flight at any time.
struct Loop {
    service: Time,
    down: BTreeSet<ServerId>,
    limit: usize,
    /// (at, seq) → submission or decision.
    queue: BTreeMap<(Time, u64), (bool, Ticket, ServerId)>,
    seq: u64,
    /// Generated tickets submitted and not resolved: ticket → open submissions.
    open: BTreeMap<Ticket, usize>,
    max_in_flight: usize,
    log: Vec<(Time, Ticket, ServerId)>,
}

impl Loop {
    fn new(service: Time, limit: usize) -> Self {
        Loop {
            service,
            down: BTreeSet::new(),
            limit,
            queue: BTreeMap::new(),
            seq: 0,
            open: BTreeMap::new(),
            max_in_flight: 0,
            log: Vec::new(),
        }
    }

    fn push(&mut self, at: Time, submit: bool, ticket: Ticket, server: ServerId) {
        self.queue.insert((at, self.seq), (submit, ticket, server));
        self.seq += 1;
    }

    fn take(&mut self, now: Time, outs: Vec<ClientOut>) {
        for o in outs {
            if let ClientOut::Submit { at, ticket, server } = o {
                assert!(at >= now, "a submission in the past");
                if is_generated(&ticket) {
                    *self.open.entry(ticket.clone()).or_default() += 1;
                }
                self.push(at, true, ticket, server);
            }
        }
        let in_flight = self.open.len();
        assert!(
            in_flight <= self.limit,
            "{in_flight} generated tickets in flight"
        );
        self.max_in_flight = self.max_in_flight.max(in_flight);
    }

    fn resolved(&mut self, ticket: &Ticket) {
        if let Some(n) = self.open.get_mut(ticket) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(ticket);
            }
        }
    }

    fn run(&mut self, c: &mut Client, concurrency: u32) {
        let outs = c.start(0, concurrency);
        self.take(0, outs);
        while let Some(((now, _), (submit, ticket, server))) = self.queue.pop_first() {
            let outs = if submit {
                let up = !self.down.contains(&server);
                if up {
                    self.log.push((now, ticket.clone(), server));
                    self.push(now + self.service, false, ticket.clone(), server);
                } else {
                    self.resolved(&ticket);
                }
                c.submitted(now, &ticket, server, up)
            } else {
                self.resolved(&ticket);
                c.decided(now, &ticket, server)
            };
            self.take(now, outs);
        }
    }
}

#[test]
fn closed_loop_keeps_concurrency_generated_tickets_in_flight() {
    let s = scenario(
        "tickets = 10\nconcurrency = 3\nsubmit_to = \"round-robin\"",
        "",
    );
    let mut c = client(&s);
    assert_eq!(
        c.start(0, 3),
        vec![submit(0, "t1", 1), submit(0, "t2", 2), submit(0, "t3", 3)],
        "the first `concurrency` tickets at once, round-robin"
    );
    let mut c = client(&s);
    let mut l = Loop::new(20 * MS, 3);
    l.run(&mut c, 3);
    assert_eq!(l.max_in_flight, 3);
    let names: Vec<&str> = l.log.iter().map(|(_, t, _)| t.0.as_str()).collect();
    let want: Vec<String> = (1..=10).map(|i| format!("t{i}")).collect();
    assert_eq!(names, want, "each ticket once, in order");
    // A freed slot is refilled at the decision time (think = 0): 3 at 0, 3 at 20 ms, …
    let times: Vec<Time> = l.log.iter().map(|(at, _, _)| *at).collect();
    let want: Vec<Time> = [0, 0, 0, 20, 20, 20, 40, 40, 40, 60]
        .iter()
        .map(|ms| ms * MS)
        .collect();
    assert_eq!(times, want);
    assert!(c.done());
}

#[test]
fn a_slot_waits_think_after_its_ticket_is_resolved() {
    let s = scenario(
        "tickets = 3\nconcurrency = 1\nthink_ms = 5.0\nsubmit_to = [2]",
        "",
    );
    let mut c = client(&s);
    assert_eq!(c.start(0, 1), vec![submit(0, "t1", 2)]);
    assert_eq!(
        c.submitted(0, &t("t1"), 2, true),
        vec![ClientOut::WakeAt(5_000 * MS)]
    );
    assert!(!c.done());
    assert_eq!(
        c.decided(12 * MS, &t("t1"), 2),
        vec![submit(17 * MS, "t2", 2)]
    );
    // A decision from a server the ticket was not submitted to resolves nothing.
    assert_eq!(c.decided(13 * MS, &t("t2"), 1), vec![]);
}

#[test]
fn a_duplicate_goes_to_another_server_duplicate_gap_later_and_holds_the_slot() {
    let s = scenario(
        "tickets = 20\nconcurrency = 1\nduplicates = 1.0\nduplicate_gap_ms = 3.0",
        "",
    );
    let mut c = client(&s);
    let outs = c.start(0, 1);
    let [ClientOut::Submit {
        at: 0,
        ticket: t1,
        server: primary,
    }, ClientOut::Submit {
        at: gap,
        ticket: dup_t,
        server: dup,
    }] = outs.as_slice()
    else {
        panic!("a submission and its duplicate: {outs:?}");
    };
    assert_eq!((t1, dup_t, *gap), (&t("t1"), &t("t1"), 3 * MS));
    assert_ne!(primary, dup, "the duplicate goes to a different server");
    c.submitted(0, t1, *primary, true);
    c.submitted(3 * MS, t1, *dup, true);
    assert_eq!(
        c.decided(20 * MS, t1, *primary),
        vec![],
        "one copy still open"
    );
    let next = c.decided(25 * MS, t1, *dup);
    assert_eq!(next.len(), 2, "t2 and its duplicate: {next:?}");
    assert!(
        matches!(&next[0], ClientOut::Submit { at, ticket, .. } if *at == 25 * MS && ticket.0 == "t2")
    );
    // Over many tickets: always a different server, always `gap` later.
    let mut c = client(&s);
    let mut l = Loop::new(20 * MS, 1);
    l.run(&mut c, 1);
    assert_eq!(l.log.len(), 40);
    for pair in l.log.chunks(2) {
        let [(a0, ta, sa), (a1, tb, sb)] = pair else {
            unreachable!()
        };
        assert_eq!(ta, tb);
        assert_ne!(sa, sb);
        assert_eq!(a1 - a0, 3 * MS);
    }
    assert!(c.done());
}

#[test]
fn scripted_tickets_are_submitted_exactly_and_never_retried() {
    let script = "[[ticket]]\nid = \"tau\"\nsubmit = [{ server = 1, at_ms = 0.0 }, \
                  { server = 2, at_ms = 16.0 }, { server = 2, at_ms = 30.0 }]\n\n\
                  [[ticket]]\nid = \"rho\"\nsubmit = [{ server = 3, at_ms = 5.0 }]";
    let s = scenario("tickets = 0", script);
    let mut c = client(&s);
    assert_eq!(c.total_tickets(), 2);
    assert_eq!(
        c.start(100, 4),
        vec![
            submit(100, "tau", 1),
            submit(100 + 5 * MS, "rho", 3),
            submit(100 + 16 * MS, "tau", 2),
            submit(100 + 30 * MS, "tau", 2),
        ],
        "sorted by time, offset by `now`; no generated ticket"
    );
    // A refused scripted submission is not retried elsewhere.
    assert_eq!(c.submitted(100, &t("tau"), 1, false), vec![]);
    c.submitted(5 * MS, &t("rho"), 3, true);
    assert_eq!(c.decided(9 * MS, &t("rho"), 3), vec![], "no slot to refill");
    // The same server twice: two submissions, each resolved by its own decision.
    c.submitted(16 * MS, &t("tau"), 2, true);
    c.submitted(30 * MS, &t("tau"), 2, true);
    c.decided(40 * MS, &t("tau"), 2);
    assert!(!c.done());
    c.decided(50 * MS, &t("tau"), 2);
    assert!(c.done());
}

#[test]
fn a_refused_or_crashed_server_sends_users_to_the_next_live_one() {
    let s = scenario("tickets = 3\nconcurrency = 1\nsubmit_to = [3]", "");
    let mut c = client(&s);
    assert_eq!(c.start(0, 1), vec![submit(0, "t1", 3)]);
    // Connection refused at s3: the same ticket, at once, at s1 (wrapping around).
    assert_eq!(c.submitted(0, &t("t1"), 3, false), vec![submit(0, "t1", 1)]);
    c.submitted(0, &t("t1"), 1, true);
    // s1 crashes with t1 open: t1 is resolved (not retried) and t2 goes out.
    let outs = c.crashed(7 * MS, 1);
    assert_eq!(outs, vec![submit(7 * MS, "t2", 3)]);
    // t2 refused at s3: s1 is known crashed, so s2.
    assert_eq!(
        c.submitted(7 * MS, &t("t2"), 3, false),
        vec![submit(7 * MS, "t2", 2)]
    );
    c.submitted(7 * MS, &t("t2"), 2, true);
    // With s3 known crashed too, t3 (planned for s3) goes straight to s2 — the next live one.
    assert_eq!(c.crashed(8 * MS, 3), vec![]);
    assert_eq!(
        c.decided(9 * MS, &t("t2"), 2),
        vec![submit(9 * MS, "t3", 2)]
    );
    // Refused at the last live server: nowhere left to go; the ticket is resolved.
    assert_eq!(c.submitted(9 * MS, &t("t3"), 2, false), vec![]);
    assert!(c.done());

    // Through the loop: s3 refuses every time, every ticket is decided at s1.
    let s = scenario("tickets = 5\nconcurrency = 2\nsubmit_to = [3]", "");
    let mut c = client(&s);
    let mut l = Loop::new(20 * MS, 2);
    l.down.insert(3);
    l.run(&mut c, 2);
    let servers: Vec<ServerId> = l.log.iter().map(|e| e.2).collect();
    assert_eq!(servers, vec![1; 5]);
    assert!(c.done());
}

#[test]
fn a_deadline_resolves_an_undecided_ticket_counting_from_its_last_submission() {
    let s = scenario(
        "tickets = 2\nconcurrency = 1\nduplicates = 1.0\nduplicate_gap_ms = 3.0\n\
         deadline_ms = 50.0",
        "",
    );
    let mut c = client(&s);
    let outs = c.start(0, 1);
    let servers: Vec<ServerId> = outs
        .iter()
        .map(|o| match o {
            ClientOut::Submit { server, .. } => *server,
            other => panic!("{other:?}"),
        })
        .collect();
    let (p, d) = (servers[0], servers[1]);
    assert_eq!(
        c.submitted(0, &t("t1"), p, true),
        vec![ClientOut::WakeAt(50 * MS)]
    );
    assert_eq!(
        c.submitted(3 * MS, &t("t1"), d, true),
        vec![ClientOut::WakeAt(53 * MS)]
    );
    // The first copy's deadline moved to 53 ms with the second submission.
    assert_eq!(c.wake(50 * MS), vec![]);
    assert_eq!(c.wake(53 * MS - 1), vec![]);
    let outs = c.wake(53 * MS);
    assert!(
        matches!(outs.as_slice(), [ClientOut::Submit { at, ticket, .. }, ClientOut::Submit { .. }] if *at == 53 * MS && ticket.0 == "t2"),
        "t1 undecided at its deadline: the slot goes to t2: {outs:?}"
    );
    // t2: one copy decided, the other never; the deadline ends it and the client is done.
    let (p2, d2) = match outs.as_slice() {
        [ClientOut::Submit { server: a, .. }, ClientOut::Submit { server: b, .. }] => (*a, *b),
        _ => unreachable!(),
    };
    c.submitted(53 * MS, &t("t2"), p2, true);
    c.submitted(56 * MS, &t("t2"), d2, true);
    c.decided(60 * MS, &t("t2"), p2);
    assert!(!c.done());
    assert_eq!(c.wake(106 * MS), vec![]);
    assert!(c.done());
}

#[test]
fn the_workload_is_a_function_of_the_seed() {
    let s = scenario(
        "tickets = 60\nconcurrency = 2\nsubmit_to = \"random\"\nduplicates = 0.5\n\
         duplicate_gap_ms = 2.0",
        "",
    );
    let plan = |seed: u64| {
        let mut c = Client::new(&s, seed);
        let mut l = Loop::new(20 * MS, 2);
        l.run(&mut c, 2);
        assert!(c.done());
        l.log
    };
    let a = plan(11);
    assert_eq!(a, plan(11), "same seed, same submissions");
    assert_ne!(a, plan(12), "another seed, other servers and duplicates");
    let tickets: BTreeSet<&Ticket> = a.iter().map(|e| &e.1).collect();
    assert_eq!(tickets.len(), 60);
    assert!(
        a.len() > 60 && a.len() < 120,
        "some duplicates: {}",
        a.len()
    );
}

#[test]
fn total_tickets_counts_generated_and_distinct_scripted_tickets() {
    let script = "[[ticket]]\nid = \"tau\"\nsubmit = [{ server = 1, at_ms = 0.0 }, \
                  { server = 2, at_ms = 1.0 }]\n\n[[ticket]]\nid = \"rho\"\n\
                  submit = [{ server = 3, at_ms = 2.0 }]";
    let s = scenario("tickets = 5", script);
    assert_eq!(client(&s).total_tickets(), 7);
    let s = scenario("tickets = 4", "");
    let c = client(&s);
    assert_eq!(c.total_tickets(), 4);
    assert!(!c.done(), "nothing issued yet");
}

/// The open loop: arrivals do not wait for answers, a late arrival is submitted late but keeps
/// its intended time, and an answer reports that time back (client latency counts from it).
#[test]
fn open_loop_arrivals_do_not_wait_and_answers_carry_the_intended_time() {
    let s = scenario(
        "tickets = 3\nrate = 1000\narrivals = \"uniform\"\nsubmit_to = [2]",
        "",
    );
    let mut c = client(&s);
    assert_eq!(c.start(0, 1), vec![ClientOut::ArriveAt(0)]);
    assert_eq!(
        c.arrive(0),
        vec![submit(0, "t1", 2), ClientOut::ArriveAt(MS)]
    );
    let _ = c.submitted(0, &t("t1"), 2, true);
    // The runtime fires the second arrival late (at 1.5 ms, meant for 1 ms): submitted now, and
    // the third still meant for 2 ms — no drift — though t1 is not answered yet.
    assert_eq!(
        c.arrive(1500),
        vec![submit(1500, "t2", 2), ClientOut::ArriveAt(2 * MS)]
    );
    let _ = c.submitted(1500, &t("t2"), 2, true);
    assert_eq!(c.arrive(2 * MS), vec![submit(2 * MS, "t3", 2)], "the last");
    let _ = c.submitted(2 * MS, &t("t3"), 2, true);
    let (outs, answer) = c.answered(9 * MS, &t("t2"), 2);
    assert!(outs.is_empty(), "an answer frees no slot in the open loop");
    let answer = answer.unwrap();
    assert_eq!((answer.intended, answer.first), (MS, true));
    // A second answer for the same submission is no answer; the others still come.
    assert_eq!(c.answered(9 * MS, &t("t2"), 2).1, None);
    assert!(!c.done());
    let _ = c.answered(10 * MS, &t("t1"), 2);
    let _ = c.answered(10 * MS, &t("t3"), 2);
    assert!(c.done());
    // 2 gaps of 1 ms after the warm-up (none with 3 tickets).
    assert_eq!(c.offered_per_s(), Some(1000.0));
}
