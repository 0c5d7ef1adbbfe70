//! Where a run's history goes as it is recorded: kept in memory (explore, shrink, check's
//! replays, resilience sweeps, tests — small runs, checked as they are), or streamed to its
//! `history.jsonl` one line per event while a [`Tally`] keeps the figures, so that a run of a
//! million tickets holds per-ticket facts, not its events (`ticketlab run` in the simulator).
//! Either way the file and the figures are the same.

use crate::history::Event;
use crate::scenario::Scenario;
use crate::tally::{Tallied, Tally};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A run's history sink.
#[derive(Debug)]
pub enum Recorder {
    /// Every event kept, in order.
    Memory(Vec<Event>),
    /// Every event written to a file as it comes, and tallied.
    Stream(Box<Stream>),
}

/// A history being written (see [`Recorder::Stream`]).
#[derive(Debug)]
pub struct Stream {
    out: BufWriter<File>,
    path: PathBuf,
    tally: Tally,
    /// The first write error: later events are tallied, not written.
    error: Option<String>,
}

/// What a streamed run leaves instead of its history: where it is, and its figures.
#[derive(Clone, Debug)]
pub struct Streamed {
    /// The history file (JSON lines, as `history::write_jsonl` writes them).
    pub path: PathBuf,
    /// The history's figures.
    pub tallied: Tallied,
    /// Why the file is incomplete, if writing it failed (the figures are whole).
    pub error: Option<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::Memory(Vec::new())
    }
}

impl Recorder {
    /// Stream to `path` (created or truncated), tallying for `scenario`.
    pub fn stream(path: &Path, scenario: &Scenario) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(Recorder::Stream(Box::new(Stream {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            tally: Tally::new(scenario),
            error: None,
        })))
    }

    /// Record the next event.
    pub fn push(&mut self, event: Event) {
        match self {
            Recorder::Memory(v) => v.push(event),
            Recorder::Stream(s) => s.push(event),
        }
    }

    /// Events recorded so far (kept or written).
    pub fn len(&self) -> usize {
        match self {
            Recorder::Memory(v) => v.len(),
            Recorder::Stream(s) => s.tally.events() as usize,
        }
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events kept in memory (none when streamed), and what a stream left.
    pub fn finish(self) -> (Vec<Event>, Option<Streamed>) {
        match self {
            Recorder::Memory(v) => (v, None),
            Recorder::Stream(s) => {
                let Stream {
                    mut out,
                    path,
                    tally,
                    mut error,
                } = *s;
                if error.is_none() {
                    error = out.flush().err().map(|e| e.to_string());
                }
                let tallied = tally.finish();
                (
                    Vec::new(),
                    Some(Streamed {
                        path,
                        tallied,
                        error,
                    }),
                )
            }
        }
    }
}

impl Stream {
    fn push(&mut self, event: Event) {
        self.tally.observe(&event);
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.out, &event)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e.to_string());
        }
    }
}
