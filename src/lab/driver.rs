//! The driver of a run, shared by every runtime: the users, the fault schedule, the crash and
//! pause bookkeeping, and the history. Like the protocols it does no I/O and reads no clock: the
//! runtime tells it what happened (an [`Action`] came due, a server decided, a trigger fired, a
//! protocol event to record) and executes the [`Command`]s it answers with — in order, since a
//! command's place in the runtime's own queue can matter (the simulator breaks time ties by
//! insertion order).
//!
//! The split of work:
//! - the **driver** decides *what* happens: which submissions are refused (their server is known
//!   crashed), when users act (via [`Client`]), what each `[[fault]]` does to which servers, and
//!   records the events only it sees (`refused`, `crash`) in the history;
//! - the **runtime** decides *how*: its clock and queue fire [`Action`]s at their times, and it
//!   carries out [`Command`]s on its cluster (an event queue or real processes and sockets),
//!   recording the protocol events (`submit`, `send`, `decide`) where they happen.

use super::load::{Load, Meter};
use super::record::Recorder;
use super::tickets::{Issuer, Kind, Verifier};
use crate::history::Event;
use crate::protocol::{Control, ServerId, Ticket, Time};
use crate::scenario::{FaultAction, Scenario};
use crate::workload::{Client, ClientOut};
use std::collections::{BTreeMap, BTreeSet};

/// Something the users or the fault injector do at a given time: the runtime schedules it (from
/// [`Command::Schedule`]) and hands it back to [`Driver::fire`] when it comes due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A user hands `ticket` to `server`.
    Submit { ticket: Ticket, server: ServerId },
    /// A user deadline to check.
    Wake,
    /// The open loop's next arrival: a user submits the next generated ticket.
    Arrive,
    /// The timed fault with this index in the scenario's list.
    Fault(usize),
}

/// What the runtime must do, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Fire `action` at `at` (≥ now).
    Schedule {
        at: Time,
        action: Action,
    },
    /// `server` receives `ticket` now, as the user holds it: `signed`, its issuer-signed text
    /// ([`super::tickets::SignedTicket`]). The server verifies it with [`Driver::verifier`] when it takes
    /// it in: a genuine ticket goes to its protocol (recorded as `submit`), a bad one is rejected
    /// at once (recorded as `refused` with its reason; the runtime then calls
    /// [`Driver::rejected`]).
    Deliver {
        ticket: Ticket,
        server: ServerId,
        signed: String,
    },
    /// Crash-stop `server` now (already recorded in the history).
    Crash(ServerId),
    /// Stop `server`: its inputs wait until it resumes.
    Pause(ServerId),
    Resume(ServerId),
    /// A control input for `server`'s protocol (a forced suspicion).
    Control {
        server: ServerId,
        control: Control,
    },
    /// Apply this link fault (delay, loss, block, partition, heal) to every link.
    Link(FaultAction),
}

/// `ticket`'s credential: scripted tickets are genuine; of the generated ones, the fractions
/// `bad` = (forged, tampered) are bad, drawn per ticket from the seed.
fn make_credential(
    issuer: &Issuer,
    scripted: &BTreeSet<Ticket>,
    bad: (f64, f64),
    ticket: &Ticket,
) -> String {
    let kind = if scripted.contains(ticket) {
        Kind::Genuine
    } else {
        issuer.kind(ticket, bad.0, bad.1)
    };
    issuer.credential(ticket, kind).encode()
}

/// The runtime-neutral state of one run.
#[derive(Debug)]
pub struct Driver<'a> {
    scenario: &'a Scenario,
    client: Client,
    crashed: Vec<bool>,
    paused: BTreeSet<ServerId>,
    /// Timed faults not fired yet: the run is not over while one is left.
    faults_left: usize,
    history: Recorder,
    /// The run's ticket issuer, and each ticket's credential once made.
    issuer: Issuer,
    credentials: BTreeMap<Ticket, String>,
    scripted: BTreeSet<Ticket>,
    /// What the users saw: client latency and answers over time (see `lab::load`).
    meter: Meter,
}

impl<'a> Driver<'a> {
    pub fn new(scenario: &'a Scenario, seed: u64) -> Self {
        let client = Client::new(scenario, seed);
        Driver {
            scenario,
            meter: Meter::new(client.total_tickets()),
            client,
            crashed: vec![false; usize::from(scenario.cluster.servers) + 1],
            paused: BTreeSet::new(),
            faults_left: scenario.faults.iter().filter(|f| f.after.is_none()).count(),
            history: Recorder::default(),
            issuer: Issuer::derive(seed),
            credentials: BTreeMap::new(),
            scripted: scenario
                .tickets
                .iter()
                .map(|t| Ticket(t.id.clone()))
                .collect(),
        }
    }

    /// What the servers verify tickets with: the run's issuer's public key.
    pub fn verifier(&self) -> Verifier {
        self.issuer.verifier()
    }

    /// The credential the user holds for `ticket`: scripted tickets are genuine; of the generated
    /// ones, `workload.forged` are forged and `workload.tampered` of the others tampered (drawn
    /// per ticket from the seed).
    fn credential(&mut self, ticket: &Ticket) -> String {
        if let Some(c) = self.credentials.get(ticket) {
            return c.clone();
        }
        let w = &self.scenario.workload;
        let c = make_credential(&self.issuer, &self.scripted, (w.forged, w.tampered), ticket);
        self.credentials.insert(ticket.clone(), c.clone());
        c
    }

    /// Make the credentials of the scripted tickets and of the first `max` generated ones now,
    /// on up to `threads` threads, instead of when their user first hands them over (the rest
    /// still are). The same credentials either way (each is a function of the seed and the
    /// ticket id); a real-time runtime calls this before its run's clock starts, so that the
    /// issuer's signing — done when a ticket is sold, not while it is validated — stays out of
    /// the measured run.
    pub fn presign(&mut self, threads: usize, max: u64) {
        let w = &self.scenario.workload;
        let mut ids: Vec<Ticket> = (1..=w.tickets.min(max))
            .map(|k| Ticket(crate::scenario::generated_ticket_id(k)))
            .chain(self.scripted.iter().cloned())
            .filter(|t| !self.credentials.contains_key(t))
            .collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        let chunk = ids.len().div_ceil(threads.max(1));
        let (issuer, scripted) = (&self.issuer, &self.scripted);
        let bad = (w.forged, w.tampered);
        let made: Vec<Vec<String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|t| make_credential(issuer, scripted, bad, t))
                            .collect()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a signing thread panicked"))
                .collect()
        });
        self.credentials
            .extend(ids.into_iter().zip(made.into_iter().flatten()));
    }

    /// Tickets the users will submit (generated and scripted), for progress bars.
    pub fn total_tickets(&self) -> u64 {
        self.client.total_tickets()
    }

    /// The timed faults, to schedule before anything else.
    pub fn faults(&self) -> Vec<Command> {
        let faults = self.scenario.faults.iter().enumerate();
        faults
            .filter(|(_, f)| f.after.is_none())
            .map(|(i, f)| Command::Schedule {
                at: f.at,
                action: Action::Fault(i),
            })
            .collect()
    }

    /// The users start (after the servers have).
    pub fn start(&mut self, now: Time) -> Vec<Command> {
        self.meter.start(now);
        let outs = self.client.start(now, self.scenario.workload.concurrency);
        schedule(outs)
    }

    /// Every submission resolved and every timed fault fired: the workload is over.
    pub fn done(&self) -> bool {
        self.client.done() && self.faults_left == 0
    }

    pub fn is_crashed(&self, server: ServerId) -> bool {
        self.crashed[usize::from(server)]
    }

    pub fn is_paused(&self, server: ServerId) -> bool {
        self.paused.contains(&server)
    }

    /// A scheduled action came due.
    pub fn fire(&mut self, now: Time, action: Action) -> Vec<Command> {
        match action {
            Action::Submit { ticket, server } => {
                // The user hands the ticket over now (its deadline runs from here); a crashed
                // server refuses the connection.
                let alive = !self.is_crashed(server);
                if !alive {
                    self.history.push(Event::Refused {
                        t_us: now,
                        ticket: ticket.clone(),
                        server,
                        reason: None,
                    });
                }
                let mut cmds = schedule(self.client.submitted(now, &ticket, server, alive));
                if alive {
                    let signed = self.credential(&ticket);
                    cmds.push(Command::Deliver {
                        ticket,
                        server,
                        signed,
                    });
                }
                cmds
            }
            Action::Wake => schedule(self.client.wake(now)),
            Action::Arrive => schedule(self.client.arrive(now)),
            Action::Fault(i) => {
                self.faults_left -= 1;
                self.fault(i, now, None)
            }
        }
    }

    /// Server `server` executed the event that fires fault `fault` (an `after = {..}` fault) at
    /// `at`; `now` is the runtime's time (the same in the simulator; later in real time). A server
    /// that crashes on its own event is recorded as crashed at the event.
    pub fn triggered(
        &mut self,
        fault: usize,
        server: ServerId,
        at: Time,
        now: Time,
    ) -> Vec<Command> {
        self.fault(fault, now, Some((server, at)))
    }

    /// The protocol at `server` halted it at `at` (`Effect::Halt`): from then on it is crashed,
    /// and recorded so.
    pub fn halted(&mut self, server: ServerId, at: Time) -> Vec<Command> {
        let mut cmds = Vec::new();
        self.crash(server, at, &mut cmds);
        cmds
    }

    /// `server` decided `ticket`, and its user is told now: in the simulator when the server
    /// decides, with real processes when the orchestrator reads the server's answer. Client
    /// latency is measured here, for both runtimes.
    pub fn decided(&mut self, now: Time, ticket: &Ticket, server: ServerId) -> Vec<Command> {
        let (outs, answer) = self.client.answered(now, ticket, server);
        if let Some(a) = answer {
            self.meter.answered(now, a);
        }
        let cmds = schedule(outs);
        self.forget_settled(ticket);
        cmds
    }

    /// `server` rejected `ticket`'s credential (the runtime recorded the `refused`): its user is
    /// told "rejected", and the submission is resolved.
    pub fn rejected(&mut self, now: Time, ticket: &Ticket, server: ServerId) -> Vec<Command> {
        self.decided(now, ticket, server)
    }

    /// What the users saw so far: client latency, throughput, offered load.
    pub fn load(&self) -> Load {
        self.meter.load(self.client.offered_per_s())
    }

    /// A ticket its users are done with needs its credential no more: memory stays bounded by
    /// the tickets in flight (a later scripted resubmission signs it again, to the same text).
    fn forget_settled(&mut self, ticket: &Ticket) {
        if !self.client.in_flight(ticket) {
            self.credentials.remove(ticket);
        }
    }

    /// Record a protocol event (`submit`, `send`, `decide`) where the runtime saw it happen.
    pub fn record(&mut self, event: Event) {
        self.history.push(event);
    }

    /// Record the history with `recorder` (instead of in memory), from the first event on.
    pub fn record_with(&mut self, recorder: Recorder) {
        self.history = recorder;
    }

    /// How many events the driver has recorded so far (a runtime that records its servers'
    /// events later places them by this).
    pub fn recorded(&self) -> usize {
        self.history.len()
    }

    /// The history, in the order events were recorded (empty when it was streamed).
    pub fn into_history(self) -> Vec<Event> {
        self.history.finish().0
    }

    /// Where the history went.
    pub fn into_recorder(self) -> Recorder {
        self.history
    }

    fn fault(&mut self, i: usize, now: Time, trigger: Option<(ServerId, Time)>) -> Vec<Command> {
        let mut cmds = Vec::new();
        let action = &self.scenario.faults[i].action;
        if let Some(event) = fault_event(now, action) {
            self.history.push(event);
        }
        match action {
            FaultAction::Crash(servers) => {
                for &s in servers {
                    let at = match trigger {
                        Some((t, at)) if t == s => at,
                        _ => now,
                    };
                    self.crash(s, at, &mut cmds);
                }
            }
            FaultAction::Pause(servers) => {
                for &s in servers {
                    if !self.is_crashed(s) && self.paused.insert(s) {
                        cmds.push(Command::Pause(s));
                    }
                }
            }
            FaultAction::Resume(servers) => {
                for &s in servers {
                    if self.paused.remove(&s) {
                        cmds.push(Command::Resume(s));
                    }
                }
            }
            FaultAction::Suspect {
                by,
                server,
                duration,
            } => {
                if !self.is_crashed(*by) {
                    cmds.push(Command::Control {
                        server: *by,
                        control: Control::Suspect {
                            server: *server,
                            until: now + duration,
                        },
                    });
                }
            }
            // The adversary was built into the server; the history says from when.
            FaultAction::Byzantine { servers, behaviour } => {
                for &s in servers {
                    self.history.push(Event::Byzantine {
                        t_us: now,
                        server: s,
                        behaviour: behaviour.name().to_string(),
                    });
                }
            }
            link @ (FaultAction::Delay { .. }
            | FaultAction::Loss { .. }
            | FaultAction::Block { .. }
            | FaultAction::Partition(_)
            | FaultAction::Heal) => cmds.push(Command::Link(link.clone())),
        }
        cmds
    }
}

impl Driver<'_> {
    /// `s` crashes at `at` (once): recorded, its users told, the runtime told to stop it.
    fn crash(&mut self, s: ServerId, at: Time, cmds: &mut Vec<Command>) {
        if self.is_crashed(s) {
            return;
        }
        self.crashed[usize::from(s)] = true;
        self.paused.remove(&s);
        self.history.push(Event::Crash {
            t_us: at,
            server: s,
        });
        cmds.push(Command::Crash(s));
        cmds.extend(schedule(self.client.crashed(at, s)));
    }
}

/// The history's record of an injected fault (crashes and Byzantine turns have their own).
fn fault_event(t_us: Time, action: &FaultAction) -> Option<Event> {
    let names = |ss: &[ServerId]| crate::protocol::servers_text(ss);
    let links = |from: &[ServerId], to: &[ServerId]| format!("{} → {}", names(from), names(to));
    let both = |from: &[ServerId], to: &[ServerId]| {
        let mut all: BTreeSet<ServerId> = from.iter().copied().collect();
        all.extend(to);
        all.into_iter().collect::<Vec<_>>()
    };
    let ms = |us: Time| us as f64 / 1000.0;
    let (fault, servers, detail) = match action {
        FaultAction::Crash(_) | FaultAction::Byzantine { .. } => return None,
        FaultAction::Pause(ss) => ("pause", ss.clone(), format!("{} stopped", names(ss))),
        FaultAction::Resume(ss) => ("resume", ss.clone(), format!("{} resumed", names(ss))),
        FaultAction::Suspect {
            by,
            server,
            duration,
        } => (
            "suspect",
            vec![*by, *server],
            format!("s{by} made to suspect s{server} for {} ms", ms(*duration)),
        ),
        FaultAction::Delay { from, to, delay } => (
            "delay",
            both(from, to),
            format!("{} take {} ms", links(from, to), ms(*delay)),
        ),
        FaultAction::Loss { from, to, rate } => (
            "loss",
            both(from, to),
            format!("{} lose {rate} of transmissions", links(from, to)),
        ),
        FaultAction::Block { from, to } => (
            "block",
            both(from, to),
            format!("{} cut one way", links(from, to)),
        ),
        FaultAction::Partition(groups) => {
            let text: Vec<String> = groups.iter().map(|g| names(g)).collect();
            let all = groups.iter().flatten().copied().collect();
            ("partition", all, text.join(" | "))
        }
        FaultAction::Heal => ("heal", Vec::new(), "every link open".to_string()),
    };
    Some(Event::Fault {
        t_us,
        fault: fault.to_string(),
        servers,
        detail,
    })
}

fn schedule(outs: Vec<ClientOut>) -> Vec<Command> {
    outs.into_iter()
        .map(|o| match o {
            ClientOut::Submit { at, ticket, server } => Command::Schedule {
                at,
                action: Action::Submit { ticket, server },
            },
            ClientOut::WakeAt(at) => Command::Schedule {
                at,
                action: Action::Wake,
            },
            ClientOut::ArriveAt(at) => Command::Schedule {
                at,
                action: Action::Arrive,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\nmode = \"sim\"\n{extra}"
        );
        scenario::load("t.toml", &text, &[]).expect("valid scenario")
    }

    #[test]
    fn a_submission_to_a_crashed_server_is_refused_and_recorded() {
        let s = scenario(
            "[[ticket]]\nid = \"a\"\nsubmit = [{ at_ms = 5.0, server = 2 }]\n\
             [[fault]]\nat_ms = 1.0\ncrash = [2]\n",
        );
        let mut d = Driver::new(&s, 1);
        let faults = d.faults();
        assert_eq!(
            faults,
            vec![Command::Schedule {
                at: 1000,
                action: Action::Fault(0)
            }]
        );
        let start = d.start(0);
        let submit = Action::Submit {
            ticket: "a".into(),
            server: 2,
        };
        assert!(start.contains(&Command::Schedule {
            at: 5000,
            action: submit.clone()
        }));
        let crash = d.fire(1000, Action::Fault(0));
        assert_eq!(crash.first(), Some(&Command::Crash(2)));
        assert!(d.is_crashed(2));
        let refused = d.fire(5000, submit);
        assert!(
            !refused.iter().any(|c| matches!(c, Command::Deliver { .. })),
            "{refused:?}"
        );
        let h = d.into_history();
        assert_eq!(
            h,
            vec![
                Event::Crash {
                    t_us: 1000,
                    server: 2
                },
                Event::Refused {
                    t_us: 5000,
                    ticket: "a".into(),
                    server: 2,
                    reason: None
                }
            ]
        );
    }

    /// `by` is told to suspect `server` until `until`.
    fn suspect(by: ServerId, server: ServerId, until: Time) -> Command {
        Command::Control {
            server: by,
            control: Control::Suspect { server, until },
        }
    }

    #[test]
    fn pause_resume_and_suspect_follow_the_servers_state() {
        let s = scenario(
            "[[ticket]]\nid = \"a\"\nsubmit = [{ at_ms = 0.0, server = 1 }]\n\
             [[fault]]\nat_ms = 1.0\npause = [1]\n[[fault]]\nat_ms = 2.0\nsuspect = { by = 1, server = 2, for_ms = 1.0 }\n\
             [[fault]]\ncrash = [3]\nafter = { server = 3, event = \"decide\", count = 1 }\n[[fault]]\nat_ms = 4.0\nsuspect = { by = 3, server = 1, for_ms = 5.0 }\n\
             [[fault]]\nat_ms = 5.0\nsuspect = { by = 2, server = 1, for_ms = 5.0 }\n\
             [[fault]]\nat_ms = 6.0\nresume = [1]\n",
        );
        let mut d = Driver::new(&s, 1);
        assert_eq!(d.fire(1000, Action::Fault(0)), vec![Command::Pause(1)]);
        assert_eq!(
            d.fire(2000, Action::Fault(1)),
            vec![suspect(1, 2, 3000)],
            "a paused server's input waits in its runtime, not here"
        );
        assert_eq!(d.triggered(2, 3, 3000, 3000), vec![Command::Crash(3)]);
        assert!(
            d.fire(4000, Action::Fault(3)).is_empty(),
            "a crashed server suspects no one"
        );
        assert_eq!(d.fire(5000, Action::Fault(4)), vec![suspect(2, 1, 10_000)]);
        assert_eq!(d.fire(6000, Action::Fault(5)), vec![Command::Resume(1)]);
        assert!(!d.is_paused(1));
    }

    #[test]
    fn a_crash_on_an_event_is_stamped_at_the_event_and_not_counted_as_timed() {
        let s = scenario(
            "[[ticket]]\nid = \"a\"\nsubmit = [{ at_ms = 0.0, server = 1 }]\n\
             [[fault]]\ncrash = [1, 2]\nafter = { server = 1, event = \"send\", msg = \"NEWTKT\", count = 1 }\n",
        );
        let mut d = Driver::new(&s, 1);
        assert!(d.faults().is_empty(), "not a timed fault");
        let cmds = d.triggered(0, 1, 700, 900);
        assert_eq!(cmds.first(), Some(&Command::Crash(1)));
        assert!(cmds.contains(&Command::Crash(2)));
        assert_eq!(
            d.into_history(),
            vec![
                Event::Crash {
                    t_us: 700,
                    server: 1
                },
                Event::Crash {
                    t_us: 900,
                    server: 2
                }
            ]
        );
    }

    #[test]
    fn the_workload_is_done_when_every_submission_resolved_and_every_timed_fault_fired() {
        let s = scenario(
            "[[ticket]]\nid = \"a\"\nsubmit = [{ at_ms = 0.0, server = 1 }]\n\
             [[fault]]\nat_ms = 1.0\ndelay = { from = 1, to = 2, ms = 5.0 }\n",
        );
        let mut d = Driver::new(&s, 1);
        let _ = d.faults();
        let _ = d.start(0);
        let cmds = d.fire(
            0,
            Action::Submit {
                ticket: "a".into(),
                server: 1,
            },
        );
        let Some(Command::Deliver {
            ticket,
            server: 1,
            signed,
        }) = cmds.last()
        else {
            panic!("{cmds:?}")
        };
        assert_eq!(d.verifier().check(signed, 0), Ok(ticket.clone()));
        let _ = d.decided(500, &"a".into(), 1);
        assert!(!d.done(), "the delay fault has not fired");
        let link = d.fire(1000, Action::Fault(0));
        assert!(matches!(
            link.as_slice(),
            [Command::Link(FaultAction::Delay { .. })]
        ));
        assert!(d.done());
        // The runtime records submit and decide; the driver, the fault it injected.
        assert_eq!(
            d.into_history(),
            vec![Event::Fault {
                t_us: 1000,
                fault: "delay".into(),
                servers: vec![1, 2],
                detail: "{s1} → {s2} take 5 ms".into(),
            }]
        );
    }

    #[test]
    fn a_halt_is_a_crash_at_the_halt() {
        let s = scenario("[[ticket]]\nid = \"a\"\nsubmit = [{ at_ms = 0.0, server = 2 }]\n");
        let mut d = Driver::new(&s, 1);
        assert_eq!(d.halted(2, 1234).first(), Some(&Command::Crash(2)));
        assert!(d.is_crashed(2));
        assert!(d.halted(2, 2000).is_empty(), "once");
        assert_eq!(
            d.into_history(),
            vec![Event::Crash {
                t_us: 1234,
                server: 2
            }]
        );
    }

    #[test]
    fn presigned_credentials_are_the_ones_made_on_demand() {
        let s = scenario(
            "[workload]\ntickets = 40\nforged = 0.2\ntampered = 0.2\n\
             [[ticket]]\nid = \"a\"\nsubmit = [{ at_ms = 0.0, server = 1 }]\n",
        );
        let (mut lazy, mut eager) = (Driver::new(&s, 9), Driver::new(&s, 9));
        eager.presign(3, 30);
        assert_eq!(
            eager.credentials.len(),
            31,
            "the first 30 and the scripted one"
        );
        eager.presign(2, 100);
        assert_eq!(eager.credentials.len(), 41, "every ticket");
        for (id, c) in eager.credentials.clone() {
            assert_eq!(lazy.credential(&id), c, "{id:?}");
        }
        let mut bad = eager
            .credentials
            .values()
            .filter(|c| eager.verifier().check(c, 0).is_err());
        assert!(bad.next().is_some(), "the bad fractions are kept");
    }
}
