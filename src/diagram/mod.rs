//! `ticketlab diagram`: a run's space-time diagram, drawn from its `history.jsonl` alone — one
//! vertical line per server, time downwards at a real scale, each message a slanted arrow from
//! its send to its delivery, decisions, crashes, faults and suspicions marked where and when they
//! happened (the figures of Pedone's 2PE paper). Two renderings of one [`Model`]: the terminal
//! ([`terminal::render`]) and SVG ([`svg::render`], [`write_svg`]; `run --diagram` calls
//! [`draw_run`]).
//!
//! - `mod.rs` — the model: messages (send matched to delivery by (`from`, `seq`)), marks, the
//!   `--ticket` and time-window filters and what they leave out; the subcommand.
//! - `locate.rs` — which `history.jsonl` a path names (run folder, protocol folder or file), n and
//!   the scenario's name from `summary.json`.
//! - `axis.rs` — the time scale shared by both renderings: µs → rows, long idle gaps compressed.

pub mod axis;
pub mod locate;
pub mod svg;
pub mod terminal;

use crate::history::{self, Event};
use crate::protocol::{Outcome, ServerId, Time};
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `run --diagram` draws runs with at most this many messages.
pub const MAX_MESSAGES_FOR_RUN: usize = 2_000;

/// One server→server message: its send and, when it arrived, its delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub from: ServerId,
    pub to: ServerId,
    /// The message type (`msg`), e.g. NEWTKT.
    pub kind: String,
    pub ticket: Option<String>,
    pub seq: u64,
    pub sent: Time,
    /// `None`: never delivered (receiver crashed, sender crashed first, link never healed).
    pub delivered: Option<Time>,
}

/// What happened at a server (or servers) at one instant, other than a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    Submit,
    Refused,
    Accept,
    Reject,
    Crash,
    Byzantine,
    Pause,
    Resume,
    /// delay, loss, block, partition (and any fault this version does not know).
    LinkFault,
    Heal,
    /// A forced false suspicion (`fault: suspect`).
    ForcedSuspect,
    /// `by`'s failure detector began suspecting a server.
    Suspect,
    /// … and trusts it again.
    Trust,
}

impl MarkKind {
    /// The one-character mark on the server's line (terminal; the SVG uses it too).
    pub fn symbol(self) -> char {
        match self {
            MarkKind::Submit => 'u',
            MarkKind::Refused => 'ø',
            MarkKind::Accept => 'A',
            MarkKind::Reject => 'R',
            MarkKind::Crash => 'X',
            MarkKind::Byzantine => 'B',
            MarkKind::Pause => 'P',
            MarkKind::Resume => 'W',
            MarkKind::LinkFault => '#',
            MarkKind::Heal => '=',
            MarkKind::ForcedSuspect | MarkKind::Suspect => '?',
            MarkKind::Trust => 't',
        }
    }

    /// Legend text, in legend order.
    pub const LEGEND: &'static [(MarkKind, &'static str)] = &[
        (MarkKind::Submit, "submit"),
        (MarkKind::Accept, "accept"),
        (MarkKind::Reject, "reject"),
        (MarkKind::Crash, "crash"),
        (MarkKind::Pause, "pause"),
        (MarkKind::Resume, "resume"),
        (MarkKind::LinkFault, "link fault"),
        (MarkKind::Heal, "heal"),
        (MarkKind::Suspect, "suspect"),
        (MarkKind::Trust, "trust"),
        (MarkKind::Refused, "refused"),
        (MarkKind::Byzantine, "byzantine"),
    ];
}

/// A marked event: where, when, what, a short note and the whole story (the SVG's hover text).
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub t: Time,
    /// The servers the mark is drawn on (a `heal` names none: it is drawn on every live server).
    pub servers: Vec<ServerId>,
    pub kind: MarkKind,
    /// E.g. "s5 accept tau (phase 2)".
    pub note: String,
    /// The note and everything the history says besides (a decision's `why`).
    pub detail: String,
}

/// What to draw: `--ticket` and the time window.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Keep only the messages about this ticket (and its submissions); every decision, fault,
    /// crash and detector change stays. Without a window, the window is the ticket's own span.
    pub ticket: Option<String>,
    pub from_us: Option<Time>,
    pub to_us: Option<Time>,
}

/// How much a filter left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub messages: usize,
    pub events: usize,
}

/// A diagram, renderer-neutral.
#[derive(Clone, Debug)]
pub struct Model {
    /// E.g. "figure6 · 2pe · ticket tau".
    pub title: String,
    /// The `--ticket` filter, if any.
    pub ticket: Option<String>,
    pub n: u16,
    /// The drawn window, µs (inclusive).
    pub start: Time,
    pub end: Time,
    /// Messages whose flight [send, delivery] meets the window, in send order.
    pub messages: Vec<Message>,
    /// Marks inside the window, in time order.
    pub marks: Vec<Mark>,
    /// Outside the window (after the ticket filter).
    pub window_left_out: LeftOut,
    /// Dropped by `--ticket`.
    pub ticket_left_out: LeftOut,
    /// Deliveries with no matching send (a truncated history), not drawn.
    pub unmatched: usize,
    /// The median delivered latency, µs: how far an undelivered message's stub points.
    pub typical_latency: Time,
    /// Lines said under the picture (other protocols in the run folder, …).
    pub notes: Vec<String>,
}

impl Model {
    /// Every event time in the window, sorted (sends, deliveries, marks), and each message's
    /// flight (send, delivery or send): what both pictures scale their time axis on.
    pub fn event_times(&self) -> (Vec<Time>, Vec<(Time, Time)>) {
        let mut times: Vec<Time> = self
            .messages
            .iter()
            .flat_map(|m| [Some(m.sent), m.delivered])
            .flatten()
            .chain(self.marks.iter().map(|m| m.t))
            .collect();
        times.sort_unstable();
        let busy = self
            .messages
            .iter()
            .map(|m| (m.sent, m.delivered.unwrap_or(m.sent)))
            .collect();
        (times, busy)
    }

    /// The message types drawn, in order of first send: a type's index picks its colour.
    pub fn kinds(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for m in &self.messages {
            if !out.contains(&m.kind.as_str()) {
                out.push(&m.kind);
            }
        }
        out
    }

    /// Each message's colour index: its type's place in [`Model::kinds`].
    pub fn kind_indices(&self) -> Vec<usize> {
        let kinds = self.kinds();
        self.messages
            .iter()
            .map(|m| kinds.iter().position(|k| *k == m.kind).unwrap_or(0))
            .collect()
    }

    /// The crash time of each crashed server (its line ends there).
    pub fn crashes(&self) -> BTreeMap<ServerId, Time> {
        let mut m = BTreeMap::new();
        for mk in self.marks.iter().filter(|m| m.kind == MarkKind::Crash) {
            for &s in &mk.servers {
                m.entry(s).or_insert(mk.t);
            }
        }
        m
    }

    /// Paused intervals per server (until the resume, or the window's end).
    pub fn paused(&self) -> Vec<(ServerId, Time, Time)> {
        let mut open: BTreeMap<ServerId, Time> = BTreeMap::new();
        let mut out = Vec::new();
        for mk in &self.marks {
            for &s in &mk.servers {
                match mk.kind {
                    MarkKind::Pause => {
                        open.entry(s).or_insert(mk.t);
                    }
                    MarkKind::Resume => {
                        if let Some(t0) = open.remove(&s) {
                            out.push((s, t0, mk.t));
                        }
                    }
                    _ => {}
                }
            }
        }
        out.extend(open.into_iter().map(|(s, t0)| (s, t0, self.end)));
        out
    }

    /// The lines to print under the picture: what the filters left out, and the notes.
    pub fn footer(&self) -> Vec<String> {
        let mut out = Vec::new();
        let counts = |l: LeftOut| {
            format!(
                "{} message{} and {} other event{}",
                l.messages,
                plural(l.messages),
                l.events,
                plural(l.events)
            )
        };
        if let Some(t) = &self.ticket {
            if self.ticket_left_out != LeftOut::default() {
                out.push(format!(
                    "--ticket {t}: {} not about {t}, not drawn",
                    counts(self.ticket_left_out)
                ));
            }
        }
        if self.window_left_out != LeftOut::default() {
            out.push(format!(
                "window {}–{} ms: {} outside, not drawn",
                ms(self.start),
                ms(self.end),
                counts(self.window_left_out)
            ));
        }
        if self.unmatched > 0 {
            out.push(format!(
                "{} deliver event{} with no matching send (truncated history?), not drawn",
                self.unmatched,
                plural(self.unmatched)
            ));
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}

pub(crate) fn plural(k: usize) -> &'static str {
    if k == 1 {
        ""
    } else {
        "s"
    }
}

/// µs as ms for people: "15", "2.5", "0.125".
pub fn ms(us: Time) -> String {
    let s = format!("{:.3}", us as f64 / 1000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn names(ss: &[ServerId]) -> String {
    ss.iter()
        .map(|s| format!("s{s}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn mark_of(e: &Event) -> Option<Mark> {
    let (t, servers, kind, note, extra) = match e {
        Event::Submit {
            t_us,
            ticket,
            server,
        } => (
            *t_us,
            vec![*server],
            MarkKind::Submit,
            format!("s{server} gets {ticket}"),
            None,
        ),
        Event::Refused {
            t_us,
            ticket,
            server,
            reason,
        } => (
            *t_us,
            vec![*server],
            MarkKind::Refused,
            match reason {
                Some(r) => format!("s{server} rejected {ticket} ({})", r.name()),
                None => format!("s{server} refused {ticket}"),
            },
            None,
        ),
        Event::Decide {
            t_us,
            ticket,
            server,
            outcome,
            phase,
            why,
        } => {
            let (kind, word) = match outcome {
                Outcome::Accept => (MarkKind::Accept, "accept"),
                Outcome::Reject => (MarkKind::Reject, "reject"),
            };
            let phase = phase.map_or(String::new(), |p| format!(" (phase {p})"));
            (
                *t_us,
                vec![*server],
                kind,
                format!("s{server} {word} {ticket}{phase}"),
                why.clone(),
            )
        }
        Event::Crash { t_us, server } => (
            *t_us,
            vec![*server],
            MarkKind::Crash,
            format!("s{server} crash"),
            None,
        ),
        Event::Byzantine {
            t_us,
            server,
            behaviour,
        } => (
            *t_us,
            vec![*server],
            MarkKind::Byzantine,
            format!("s{server} byzantine ({behaviour})"),
            None,
        ),
        Event::Fault {
            t_us,
            fault,
            servers,
            detail,
        } => {
            let kind = match fault.as_str() {
                "pause" => MarkKind::Pause,
                "resume" => MarkKind::Resume,
                "suspect" => MarkKind::ForcedSuspect,
                "heal" => MarkKind::Heal,
                _ => MarkKind::LinkFault,
            };
            let note = match kind {
                MarkKind::Pause => format!("{} paused", names(servers)),
                MarkKind::Resume => format!("{} resumed", names(servers)),
                _ => format!("{fault}: {detail}"),
            };
            (*t_us, servers.clone(), kind, note, Some(detail.clone()))
        }
        Event::Suspect { t_us, by, server } => (
            *t_us,
            vec![*by],
            MarkKind::Suspect,
            format!("s{by} suspects s{server}"),
            None,
        ),
        Event::Trust { t_us, by, server } => (
            *t_us,
            vec![*by],
            MarkKind::Trust,
            format!("s{by} trusts s{server}"),
            None,
        ),
        Event::Send { .. } | Event::Deliver { .. } => return None,
    };
    let detail = match extra {
        Some(x) if !note.contains(&x) => format!("{} ms: {note} — {x}", ms(t)),
        _ => format!("{} ms: {note}", ms(t)),
    };
    Some(Mark {
        t,
        servers,
        kind,
        note,
        detail,
    })
}

/// The ticket a marked event is about, if any (submissions and decisions).
fn ticket_of(e: &Event) -> Option<&str> {
    match e {
        Event::Submit { ticket, .. }
        | Event::Refused { ticket, .. }
        | Event::Decide { ticket, .. } => Some(&ticket.0),
        _ => None,
    }
}

/// Build the diagram of `events` (a run with `n` servers) under `filter`. Errors: an empty
/// history, a window that ends before it starts, a `--ticket` the history never mentions.
pub fn build(events: &[Event], n: u16, title: &str, filter: &Filter) -> anyhow::Result<Model> {
    if events.is_empty() {
        anyhow::bail!("empty history (no events)");
    }
    if let (Some(a), Some(b)) = (filter.from_us, filter.to_us) {
        if a > b {
            anyhow::bail!(
                "the window ends ({} ms) before it starts ({} ms)",
                ms(b),
                ms(a)
            );
        }
    }
    // Messages: sends in order; deliveries matched by (from, seq).
    let mut messages: Vec<Message> = Vec::new();
    let mut by_id: BTreeMap<(ServerId, u64), usize> = BTreeMap::new();
    let mut unmatched = 0;
    for e in events {
        match e {
            Event::Send {
                t_us,
                from,
                to,
                msg,
                ticket,
                seq,
            } => {
                by_id.insert((*from, *seq), messages.len());
                messages.push(Message {
                    from: *from,
                    to: *to,
                    kind: msg.clone(),
                    ticket: ticket.as_ref().map(|t| t.0.clone()),
                    seq: *seq,
                    sent: *t_us,
                    delivered: None,
                });
            }
            Event::Deliver {
                t_us, from, seq, ..
            } => match by_id.get(&(*from, *seq)) {
                Some(&i) if messages[i].delivered.is_none() => messages[i].delivered = Some(*t_us),
                _ => unmatched += 1,
            },
            _ => {}
        }
    }
    let n = events
        .iter()
        .flat_map(|e| match e {
            Event::Send { from, to, .. } | Event::Deliver { from, to, .. } => vec![*from, *to],
            Event::Fault { servers, .. } => servers.clone(),
            Event::Suspect { by, server, .. } | Event::Trust { by, server, .. } => {
                vec![*by, *server]
            }
            Event::Submit { server, .. }
            | Event::Refused { server, .. }
            | Event::Decide { server, .. }
            | Event::Crash { server, .. }
            | Event::Byzantine { server, .. } => vec![*server],
        })
        .max()
        .unwrap_or(1)
        .max(n)
        .max(1);
    let mut latencies: Vec<Time> = messages
        .iter()
        .filter_map(|m| m.delivered.map(|d| d.saturating_sub(m.sent)))
        .collect();
    latencies.sort_unstable();
    let typical_latency = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or(10_000);
    let all_marks: Vec<(Option<&str>, Mark)> = events
        .iter()
        .filter_map(|e| mark_of(e).map(|m| (ticket_of(e), m)))
        .collect();

    // The ticket filter.
    let mut ticket_left_out = LeftOut::default();
    let (messages, marks): (Vec<Message>, Vec<Mark>) = match &filter.ticket {
        None => (messages, all_marks.into_iter().map(|(_, m)| m).collect()),
        Some(t) => {
            let total = messages.len();
            let kept: Vec<Message> = messages
                .into_iter()
                .filter(|m| m.ticket.as_deref() == Some(t))
                .collect();
            ticket_left_out.messages = total - kept.len();
            let mut marks = Vec::new();
            let mut mentioned = !kept.is_empty();
            for (tk, m) in all_marks {
                mentioned |= tk == Some(t.as_str());
                let keep = match m.kind {
                    MarkKind::Submit | MarkKind::Refused => tk == Some(t.as_str()),
                    _ => true,
                };
                if keep {
                    marks.push(m);
                } else {
                    ticket_left_out.events += 1;
                }
            }
            if !mentioned {
                anyhow::bail!("ticket {t:?} does not appear in the history");
            }
            (kept, marks)
        }
    };

    // The window: as given; else the ticket's own span (with --ticket); else the whole run from 0.
    let (auto_start, auto_end) = match &filter.ticket {
        Some(t) => {
            let own = messages
                .iter()
                .flat_map(|m| [Some(m.sent), m.delivered])
                .flatten()
                .chain(
                    events
                        .iter()
                        .filter(|e| ticket_of(e) == Some(t.as_str()))
                        .map(Event::time),
                );
            let own: Vec<Time> = own.collect();
            (
                own.iter().copied().min().unwrap_or(0),
                own.iter().copied().max().unwrap_or(0),
            )
        }
        None => (0, events.iter().map(Event::time).max().unwrap_or(0)),
    };
    let start = filter.from_us.unwrap_or(auto_start);
    let end = filter.to_us.unwrap_or(auto_end.max(start));
    let mut window_left_out = LeftOut::default();
    let messages: Vec<Message> = messages
        .into_iter()
        .filter(|m| {
            let inside = m.sent <= end && m.delivered.unwrap_or(m.sent) >= start;
            window_left_out.messages += usize::from(!inside);
            inside
        })
        .collect();
    let mut marks: Vec<Mark> = marks
        .into_iter()
        .filter(|m| {
            let inside = (start..=end).contains(&m.t);
            window_left_out.events += usize::from(!inside);
            inside
        })
        .collect();
    marks.sort_by_key(|m| m.t);
    let title = match &filter.ticket {
        Some(t) => format!("{title} · ticket {t}"),
        None => title.to_string(),
    };
    Ok(Model {
        title,
        ticket: filter.ticket.clone(),
        n,
        start,
        end,
        messages,
        marks,
        window_left_out,
        ticket_left_out,
        unmatched,
        typical_latency,
        notes: Vec::new(),
    })
}

/// Write the SVG diagram of a whole history (no filter) to `path`.
pub fn write_svg(events: &[Event], n: u16, title: &str, path: &Path) -> anyhow::Result<()> {
    let model = build(events, n, title, &Filter::default())?;
    std::fs::write(path, svg::render(&model))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `run --diagram`: `diagram.svg` beside every history the run wrote (each protocol's folder,
/// and its `f<k>/` or behaviour subfolders), for runs of at most [`MAX_MESSAGES_FOR_RUN`]
/// messages; larger ones are skipped with a line on stderr saying why.
pub fn draw_run(out_dir: &Path, summary: &crate::report::Summary) {
    let mut folders: Vec<PathBuf> = Vec::new();
    for r in &summary.runs {
        let mut dir = out_dir.join(r.protocol.name());
        if let Some(b) = r.behaviour {
            dir = dir.join(b.name());
        }
        if !folders.contains(&dir) {
            folders.push(dir);
        }
    }
    for dir in folders {
        let mut histories = vec![dir.join("history.jsonl")];
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut subs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("history.jsonl"))
                .filter(|p| p.is_file())
                .collect();
            subs.sort();
            histories.extend(subs);
        }
        for h in histories.into_iter().filter(|p| p.is_file()) {
            let name = locate::relative_name(out_dir, &h);
            let title = format!("{} · {name}", summary.scenario);
            let svg = h.with_file_name("diagram.svg");
            match draw_one(&h, summary.servers, &title, &svg) {
                Ok(Some(k)) => eprintln!(
                    "ticketlab: diagram: skipped {name}: {k} messages (more than {MAX_MESSAGES_FOR_RUN}); \
                     draw a window: ticketlab diagram {} --protocol {name} --from-ms A --to-ms B --svg FILE",
                    out_dir.display()
                ),
                Ok(None) => eprintln!("ticketlab: wrote {}", svg.display()),
                Err(e) => eprintln!("ticketlab: diagram: {name}: {e:#}"),
            }
        }
    }
}

/// Draw one history unless it is too large; `Some(messages)` when skipped.
fn draw_one(history: &Path, n: u16, title: &str, svg: &Path) -> anyhow::Result<Option<usize>> {
    let text = std::fs::read_to_string(history)
        .with_context(|| format!("cannot read {}", history.display()))?;
    let sends = text.matches("\"kind\":\"send\"").count();
    if sends > MAX_MESSAGES_FOR_RUN {
        return Ok(Some(sends));
    }
    let events = history::read_jsonl(history)?;
    write_svg(&events, n, title, svg)?;
    Ok(None)
}

/// `ticketlab diagram`'s arguments.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "RUN_DIR holding several protocols' histories: without --protocol the \
    first (in summary.json's order) is drawn and the others are named on stderr. Messages are \
    drawn when their flight [send, delivery] meets the window; a message never delivered ends \
    in ×. Colour only on a terminal, never with NO_COLOR set."
)]
pub struct DiagramArgs {
    /// A run's output folder (`ticketlab run --out DIR`), one protocol's folder in it, or a
    /// history.jsonl file.
    #[arg(value_name = "RUN_DIR")]
    pub path: PathBuf,
    /// The protocol to draw (a folder of RUN_DIR: 2pe, se-ct, … or e.g. 2pe/f1 for a sweep's run).
    #[arg(long, value_name = "P")]
    pub protocol: Option<String>,
    /// Draw only the messages about this ticket (and its submissions); every decision, fault,
    /// crash and suspicion stays. Without a window, the window is the ticket's own span.
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,
    /// Window start, ms since the run's start.
    #[arg(long, value_name = "A")]
    pub from_ms: Option<f64>,
    /// Window end, ms since the run's start.
    #[arg(long, value_name = "B")]
    pub to_ms: Option<f64>,
    /// Also write the diagram as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Terminal width in columns (default: $COLUMNS, else 80); the picture is never wider.
    #[arg(long, value_name = "COLS")]
    pub width: Option<usize>,
}

fn ms_arg(name: &str, v: Option<f64>) -> anyhow::Result<Option<Time>> {
    match v {
        None => Ok(None),
        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some((x * 1000.0).round() as Time)),
        Some(x) => anyhow::bail!("{name} {x}: expected a time in ms, 0 or more"),
    }
}

/// Run `ticketlab diagram`.
pub fn command(args: DiagramArgs) -> anyhow::Result<ExitCode> {
    let filter = Filter {
        ticket: args.ticket.clone(),
        from_us: ms_arg("--from-ms", args.from_ms)?,
        to_us: ms_arg("--to-ms", args.to_ms)?,
    };
    let width = match args.width {
        Some(w) => w,
        None => std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(80),
    };
    if width < terminal::MIN_WIDTH {
        anyhow::bail!(
            "--width {width}: a diagram needs at least {} columns",
            terminal::MIN_WIDTH
        );
    }
    let src = locate::locate(&args.path, args.protocol.as_deref())?;
    let events = history::read_jsonl(&src.history)
        .with_context(|| format!("cannot read history {}", src.history.display()))?;
    let title = match &src.scenario {
        Some(s) => format!("{s} · {}", src.name),
        None => src.name.clone(),
    };
    let mut model = build(&events, src.n.unwrap_or(0), &title, &filter)
        .with_context(|| format!("{}", src.history.display()))?;
    if !src.others.is_empty() {
        let others = format!(
            "also in {}: {} (--protocol NAME)",
            args.path.display(),
            src.others.join(", ")
        );
        eprintln!("ticketlab diagram: drawing {}; {others}", src.name);
        model.notes.push(others);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = terminal::render(&model, width, color)?;
    print!("{text}");
    if let Some(path) = &args.svg {
        std::fs::write(path, svg::render(&model))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("ticketlab diagram: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
