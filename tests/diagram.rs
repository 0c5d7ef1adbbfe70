//! `ticketlab diagram` and `run --diagram`: the paper's figures 5 and 6 read off the terminal
//! picture, well-formed SVG with one `msg` element per message, windows and `--ticket` counted
//! against an independent recount of history.jsonl, bad input as clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use ticketlab::diagram::{self, Filter};
use ticketlab::history::{self, Event};

fn ticketlab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a scenario of scenarios/ in the simulator into `dir/out`; the run folder.
fn run(dir: &Path, scenario: &str, extra: &[&str]) -> PathBuf {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(scenario);
    let mut args = vec!["run", file.to_str().unwrap(), "--sim", "--out", "out"];
    args.extend(extra);
    let o = ticketlab(&args, dir);
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("out")
}

/// The terminal picture at 80 columns: plain text, no line wider than 80.
fn picture(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["diagram"];
    all.extend(args);
    all.extend(["--width", "80"]);
    let o = ticketlab(&all, dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        !text.contains('\x1b'),
        "ANSI escapes with NO_COLOR:\n{text}"
    );
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    text
}

/// The mark on server `s`'s line in the row whose note contains `note`.
fn mark_at(text: &str, s: u16, note: &str) -> char {
    let header = text
        .lines()
        .find(|l| l.trim_start().starts_with("ms "))
        .expect("header line");
    let col = header
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| header[i..].starts_with(&format!("s{s} ")) || header[i..] == format!("s{s}"))
        .map(|i| header[..i].chars().count())
        .expect("server column");
    let line = text
        .lines()
        .find(|l| l.contains(note))
        .unwrap_or_else(|| panic!("no note {note:?} in\n{text}"));
    line.chars().nth(col).unwrap()
}

#[test]
fn figure6_terminal_shows_s5_accepting_in_phase_2_and_s2_rejecting() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "figure6.toml", &[]);
    let text = picture(dir.path(), &[out.to_str().unwrap()]);
    assert!(text.contains("s5 accept tau (phase 2)"), "{text}");
    assert!(text.contains("s2 reject tau (phase 2)"), "{text}");
    assert!(!text.contains("phase 1)"), "{text}");
    assert_eq!(mark_at(&text, 5, "s5 accept tau"), 'A', "{text}");
    assert_eq!(mark_at(&text, 2, "s2 reject tau"), 'R', "{text}");
    // At their times: s2 at 70 ms, s5 at 100 ms (labelled rows of the time axis).
    let row = |note: &str| text.lines().find(|l| l.contains(note)).unwrap().to_string();
    assert!(row("s5 accept").trim_start().starts_with("100 ┤"), "{text}");
    assert!(row("s2 reject").trim_start().starts_with("70 ┤"), "{text}");
    assert!(
        text.contains("figure6 · 2pe · n = 5 · 48 messages"),
        "{text}"
    );
    assert!(
        text.contains("NEWTKT") && text.contains("C-PROPOSE"),
        "{text}"
    );
    assert!(text.contains("legend:"), "{text}");
    // s1 to s5 left to right.
    let header = text.lines().nth(1).unwrap();
    let at: Vec<usize> = (1..=5)
        .map(|s| header.find(&format!("s{s}")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{header}");
}

#[test]
fn figure5_terminal_shows_s1_accepting_in_phase_1_and_s5_rejecting_in_phase_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "figure5.toml", &[]);
    // A protocol folder works as well as the run folder.
    let text = picture(dir.path(), &[out.join("2pe").to_str().unwrap()]);
    assert!(text.contains("s1 accept tau (phase 1)"), "{text}");
    assert!(text.contains("s5 reject tau (phase 2)"), "{text}");
    assert_eq!(mark_at(&text, 1, "s1 accept tau"), 'A', "{text}");
    assert_eq!(mark_at(&text, 5, "s5 reject tau"), 'R', "{text}");
    assert_eq!(mark_at(&text, 5, "s5 gets tau"), 'u', "{text}");
}

/// Parse an SVG document; the number of elements whose class list has `msg`.
fn svg_messages(text: &str) -> usize {
    let doc = roxmltree::Document::parse(text).expect("well-formed SVG");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    for attr in ["width", "height", "viewBox"] {
        assert!(root.attribute(attr).is_some(), "no {attr}");
    }
    let msgs: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().any(|w| w == "msg"))
        })
        .collect();
    for m in &msgs {
        let title = m
            .children()
            .find(|c| c.has_tag_name("title"))
            .expect("hover text");
        let t = title.text().unwrap_or("");
        assert!(t.contains(" → s") && t.contains("sent "), "{t}");
    }
    msgs.len()
}

fn sends(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Send { .. }))
        .count()
}

#[test]
fn svg_is_well_formed_with_one_msg_element_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "figure6.toml", &["--diagram"]);
    let events = history::read_jsonl(&out.join("2pe/history.jsonl")).unwrap();
    // run --diagram wrote it beside the history.
    let written = std::fs::read_to_string(out.join("2pe/diagram.svg")).unwrap();
    assert_eq!(svg_messages(&written), sends(&events));
    assert!(written.contains("s5 accept tau (phase 2)"));
    // The subcommand's --svg, and the library.
    let file = dir.path().join("f6.svg");
    let o = ticketlab(
        &["diagram", "out", "--svg", file.to_str().unwrap()],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(svg_messages(&text), 48);
    let model = diagram::build(&events, 5, "x", &Filter::default()).unwrap();
    assert_eq!(svg_messages(&diagram::svg::render(&model)), 48);
}

#[test]
fn text_is_escaped_and_undelivered_messages_end_in_a_cross() {
    let t = |s: &str| ticketlab::protocol::Ticket(s.to_string());
    let events = vec![
        Event::Submit {
            t_us: 0,
            ticket: t("<a&b>"),
            server: 1,
        },
        Event::Send {
            t_us: 0,
            from: 1,
            to: 2,
            msg: "X<\"'&>".into(),
            ticket: Some(t("<a&b>")),
            seq: 0,
        },
        Event::Send {
            t_us: 0,
            from: 1,
            to: 3,
            msg: "LOST".into(),
            ticket: Some(t("<a&b>")),
            seq: 1,
        },
        Event::Crash {
            t_us: 5_000,
            server: 3,
        },
        Event::Deliver {
            t_us: 10_000,
            from: 1,
            to: 2,
            msg: "X<\"'&>".into(),
            seq: 0,
        },
    ];
    let model = diagram::build(&events, 3, "esc <&>", &Filter::default()).unwrap();
    assert_eq!(model.messages.len(), 2);
    assert_eq!(model.messages[1].delivered, None);
    let svg = diagram::svg::render(&model);
    assert_eq!(svg_messages(&svg), 2);
    assert!(svg.contains("never delivered"));
    let text = diagram::terminal::render(&model, 80, false).unwrap();
    assert!(text.contains('×'), "{text}");
    assert!(text.contains("X s3 crash"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80));
}

/// (messages, other events) of the history inside [a, b] µs, counted from the JSON alone: a
/// message is inside when its flight [send, delivery or send] meets the window.
fn recount(path: &Path, a: u64, b: u64, ticket: Option<&str>) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let v: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut delivered = std::collections::BTreeMap::new();
    for e in v.iter().filter(|e| e["kind"] == "deliver") {
        delivered.insert(
            (e["from"].as_u64().unwrap(), e["seq"].as_u64().unwrap()),
            e["t_us"].as_u64().unwrap(),
        );
    }
    let mut msgs = 0;
    let mut others = 0;
    for e in &v {
        let t = e["t_us"].as_u64().unwrap();
        match e["kind"].as_str().unwrap() {
            "send" => {
                if ticket.is_some_and(|tk| e["ticket"] != tk) {
                    continue;
                }
                let d = delivered
                    .get(&(e["from"].as_u64().unwrap(), e["seq"].as_u64().unwrap()))
                    .copied()
                    .unwrap_or(t);
                msgs += usize::from(t <= b && d >= a);
            }
            "deliver" => {}
            "submit" | "refused" if ticket.is_some_and(|tk| e["ticket"] != tk) => {}
            _ => others += usize::from(a <= t && t <= b),
        }
    }
    (msgs, others)
}

#[test]
fn windows_count_messages_in_flight_and_say_what_they_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "figure6.toml", &[]);
    let path = out.join("2pe/history.jsonl");
    let events = history::read_jsonl(&path).unwrap();
    for (a, b) in [(20.0, 60.0), (0.0, 10.0), (65.0, 130.0), (100.0, 100.0)] {
        let filter = Filter {
            ticket: None,
            from_us: Some((a * 1000.0) as u64),
            to_us: Some((b * 1000.0) as u64),
        };
        let model = diagram::build(&events, 5, "f6", &filter).unwrap();
        let (msgs, others) = recount(&path, (a * 1000.0) as u64, (b * 1000.0) as u64, None);
        assert_eq!(model.messages.len(), msgs, "window {a}–{b}");
        assert_eq!(model.marks.len(), others, "window {a}–{b}");
        assert_eq!(model.window_left_out.messages, 48 - msgs);
        assert_eq!(svg_messages(&diagram::svg::render(&model)), msgs);
    }
    let text = picture(dir.path(), &["out", "--from-ms", "20", "--to-ms", "60"]);
    let (msgs, others) = recount(&path, 20_000, 60_000, None);
    let total_others = events
        .iter()
        .filter(|e| !matches!(e, Event::Send { .. } | Event::Deliver { .. }))
        .count();
    assert!(
        text.contains(&format!("· {msgs} messages · 20–60 ms")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "window 20–60 ms: {} messages and {} other events outside, not drawn",
            48 - msgs,
            total_others - others
        )),
        "{text}"
    );
}

#[test]
fn ticket_filter_keeps_that_tickets_messages_and_every_decision() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "table1.toml",
        &["--set", "cluster.protocols=[\"2pe\"]"],
    );
    let path = out.join("2pe/history.jsonl");
    let events = history::read_jsonl(&path).unwrap();
    let filter = Filter {
        ticket: Some("t7".into()),
        ..Filter::default()
    };
    let model = diagram::build(&events, 5, "t1", &filter).unwrap();
    // Table 1's 2PE: n − 1 NEWTKT and n − 1 ACK for t7.
    assert_eq!(model.messages.len(), 8);
    assert!(model
        .messages
        .iter()
        .all(|m| m.ticket.as_deref() == Some("t7") && m.delivered.is_some()));
    assert_eq!(model.ticket_left_out.messages, sends(&events) - 8);
    let (msgs, others) = recount(&path, model.start, model.end, Some("t7"));
    assert_eq!(model.messages.len(), msgs);
    assert_eq!(model.marks.len(), others);
    assert!(model
        .marks
        .iter()
        .any(|m| m.note == "s1 accept t7 (phase 1)" || m.note.contains("accept t7")));
    let text = picture(dir.path(), &["out", "--ticket", "t7"]);
    assert!(text.contains("ticket t7"), "{text}");
    assert!(text.contains("--ticket t7: "), "{text}");
    // A ticket the run never saw.
    let o = ticketlab(&["diagram", "out", "--ticket", "nope"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("\"nope\" does not appear"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn several_protocols_draw_the_first_and_name_the_others() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        "figure1.toml",
        &["--set", "cluster.protocols=[\"2pe\",\"se-ct\"]"],
    );
    let o = ticketlab(&["diagram", "out", "--width", "100"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("figure1 · 2pe"), "{}", stdout(&o));
    assert!(stderr(&o).contains("se-ct"), "{}", stderr(&o));
    let o = ticketlab(&["diagram", "out", "--protocol", "se-ct"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("figure1 · se-ct"), "{}", stdout(&o));
    // A history file path.
    let o = ticketlab(&["diagram", "out/se-ct/history.jsonl"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("X s1 crash"), "{}", stdout(&o));
}

#[test]
fn run_diagram_skips_large_runs_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "table1.toml",
        &[
            "--set",
            "cluster.protocols=[\"2pe\",\"se-opt\"]",
            "--diagram",
        ],
    );
    // 2PE: 800 messages, drawn; se-opt: 2400, skipped.
    assert!(out.join("2pe/diagram.svg").is_file());
    assert!(!out.join("se-opt/diagram.svg").exists());
    let o = ticketlab(
        &[
            "run",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/table1.toml")
                .to_str()
                .unwrap(),
            "--sim",
            "--set",
            "cluster.protocols=[\"se-opt\"]",
            "--out",
            "out2",
            "--diagram",
        ],
        dir.path(),
    );
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("skipped se-opt: 2400 messages (more than 2000)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_input_is_a_clear_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let check = |args: &[&str], want: &[&str]| {
        let mut all = vec!["diagram"];
        all.extend(args);
        let o = ticketlab(&all, dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        for w in want {
            assert!(err.contains(w), "{args:?}: want {w:?} in {err}");
        }
    };
    check(&["missing-dir"], &["missing-dir: no such file or folder"]);
    std::fs::create_dir_all(dir.path().join("run/2pe")).unwrap();
    std::fs::write(dir.path().join("run/2pe/history.jsonl"), "").unwrap();
    check(&["run"], &["run/2pe/history.jsonl", "empty history"]);
    check(
        &["run", "--protocol", "se-ct"],
        &["run: no protocol \"se-ct\" here (found: 2pe)"],
    );
    std::fs::create_dir_all(dir.path().join("nothing")).unwrap();
    check(&["nothing"], &["nothing: no history.jsonl here"]);
    std::fs::write(
        dir.path().join("run/2pe/history.jsonl"),
        "{\"kind\":\"oops\"}\n",
    )
    .unwrap();
    check(&["run/2pe"], &["run/2pe/history.jsonl:1"]);
    std::fs::write(
        dir.path().join("run/2pe/history.jsonl"),
        "{\"kind\":\"crash\",\"t_us\":0,\"server\":1}\n",
    )
    .unwrap();
    check(&["run", "--width", "20"], &["--width 20"]);
    check(
        &["run", "--from-ms", "9", "--to-ms", "1"],
        &[
            "run/2pe/history.jsonl",
            "the window ends (1 ms) before it starts (9 ms)",
        ],
    );
    check(&["run", "--from-ms=-3"], &["--from-ms -3"]);
    // A readable one-event history draws.
    let o = ticketlab(&["diagram", "run"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("X s1 crash"), "{}", stdout(&o));
}
