//! The terminal rendering: a character grid, one column per server (s1 … sn), one row per
//! [`Axis`] unit, the time axis in ms on the left, notes (decisions, faults, …) in a gutter on
//! the right, a legend under it. Every line is at most `width` characters (all single-width);
//! ANSI colour only when asked.

use super::axis::{Axis, GAP_UNITS};
use super::{ms, plural, MarkKind, Model};

/// The narrowest `--width` accepted.
pub const MIN_WIDTH: usize = 40;
/// The tallest picture, in rows (long runs get a coarser scale; window them to zoom in).
pub const MAX_ROWS: f64 = 60.0;
/// Blank columns left and right of the outermost server lines.
const MARGIN: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Dim,
    Msg(u8),
    Good,
    Bad,
    Fault,
    Suspect,
    Strong,
}

impl Style {
    fn ansi(self) -> &'static str {
        const PALETTE: [&str; 6] = ["36", "34", "35", "96", "94", "95"];
        match self {
            Style::Plain => "0",
            Style::Dim => "2",
            Style::Msg(k) => PALETTE[usize::from(k) % PALETTE.len()],
            Style::Good => "1;32",
            Style::Bad => "1;31",
            Style::Fault => "33",
            Style::Suspect => "1;35",
            Style::Strong => "1",
        }
    }

    fn of_mark(k: MarkKind) -> Style {
        match k {
            MarkKind::Accept => Style::Good,
            MarkKind::Reject | MarkKind::Crash | MarkKind::Refused | MarkKind::Byzantine => {
                Style::Bad
            }
            MarkKind::Pause | MarkKind::Resume | MarkKind::LinkFault | MarkKind::Heal => {
                Style::Fault
            }
            MarkKind::ForcedSuspect | MarkKind::Suspect | MarkKind::Trust => Style::Suspect,
            MarkKind::Submit => Style::Strong,
        }
    }
}

/// Which marks win a shared cell (higher wins).
pub(crate) fn priority(k: MarkKind) -> u8 {
    match k {
        MarkKind::Suspect | MarkKind::Trust => 0,
        MarkKind::LinkFault | MarkKind::Heal | MarkKind::ForcedSuspect => 1,
        MarkKind::Submit | MarkKind::Refused | MarkKind::Pause | MarkKind::Resume => 2,
        MarkKind::Byzantine => 3,
        MarkKind::Crash => 4,
        MarkKind::Accept | MarkKind::Reject => 5,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Empty,
    Life,
    Cross,
    Line(usize),
    Head,
    Label,
    Mark,
    Gap,
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    ch: char,
    style: Style,
    owner: Owner,
}

struct Grid {
    rows: usize,
    cols: usize,
    cells: Vec<Cell>,
}

impl Grid {
    fn get(&self, r: i64, c: i64) -> Option<&Cell> {
        (r >= 0 && c >= 0 && (r as usize) < self.rows && (c as usize) < self.cols)
            .then(|| &self.cells[r as usize * self.cols + c as usize])
    }

    fn set(&mut self, r: i64, c: i64, ch: char, style: Style, owner: Owner) {
        if r >= 0 && c >= 0 && (r as usize) < self.rows && (c as usize) < self.cols {
            self.cells[r as usize * self.cols + c as usize] = Cell { ch, style, owner };
        }
    }
}

/// The cells of a line from (row `r0`, column `c0`) to (`r1`, `c1`), columns strictly between
/// `c0` and `c1`, in path order. Shallow lines step down by thirds of a row (‾ - _), steep ones
/// are `\` or `/`.
fn raster(r0: i64, c0: i64, r1: i64, c1: i64) -> Vec<(i64, i64, char)> {
    let dx = c1 - c0;
    let dir = dx.signum();
    let span = dx.abs();
    if span < 2 {
        return Vec::new();
    }
    let dy = (r1 - r0) as f64;
    let mut out = Vec::new();
    if dy <= span as f64 {
        for k in 1..span {
            let y = r0 as f64 + dy * k as f64 / span as f64;
            let r = y.round();
            let o = y - r;
            let ch = if o < -1.0 / 6.0 {
                '‾'
            } else if o > 1.0 / 6.0 {
                '_'
            } else {
                '-'
            };
            out.push((r as i64, c0 + dir * k, ch));
        }
    } else {
        let ch = if dir > 0 { '\\' } else { '/' };
        for r in r0..=r1 {
            let x = c0 as f64 + dx as f64 * (r - r0) as f64 / dy;
            let k = ((x - c0 as f64).abs().round() as i64).clamp(1, span - 1);
            out.push((r, c0 + dir * k, ch));
        }
    }
    out
}

/// Cut `s` to `w` characters, ending in … when cut.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}

/// Words joined into lines of at most `w` characters.
fn wrap(words: &[String], w: usize, indent: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in words {
        let len = line.chars().count();
        if len > 0 && len + 2 + word.chars().count() > w {
            out.push(std::mem::take(&mut line));
        }
        if line.is_empty() {
            line = if out.is_empty() {
                word.clone()
            } else {
                format!("{indent}{word}")
            };
        } else {
            line.push_str("  ");
            line.push_str(word);
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out.into_iter().map(|l| fit(&l, w)).collect()
}

/// The diagram as text, `width` columns at most; ANSI colours when `color`.
pub fn render(model: &Model, width: usize, color: bool) -> anyhow::Result<String> {
    let n = usize::from(model.n.max(1));
    let (times, busy) = model.event_times();
    let dense = model.messages.len() as f64 / 2.0;
    let axis = Axis::new(model.start, model.end, &times, &busy, MAX_ROWS, dense);
    let row = |t| axis.y(t).round() as i64;
    let rows = row(model.end).max(0) as usize + 1;
    let ticks = axis.ticks(4.0);
    let axis_w = ticks
        .iter()
        .map(|&t| ms(t).chars().count())
        .max()
        .unwrap_or(1)
        .max(2);

    // Columns: axis, body, one blank, gutter.
    let min_body = 2 * MARGIN + 1 + 2 * (n - 1);
    let fixed = axis_w + 2 + 1;
    if width < fixed + min_body + 10 {
        anyhow::bail!(
            "{} servers need at least {} columns (--width), or draw them with --svg",
            n,
            fixed + min_body + 10
        );
    }
    // The gutter as wide as the longest note (with its mark and a ↑), up to a third of the width.
    let longest = model
        .marks
        .iter()
        .map(|m| m.note.chars().count() + 3)
        .max()
        .unwrap_or(0);
    let gutter = longest
        .clamp(10, (width / 3).max(16))
        .min(width - fixed - min_body);
    let body = width - fixed - gutter;
    let span = body - 2 * MARGIN - 1;
    let col = |s: u16| -> i64 {
        let i = usize::from(s.max(1)) - 1;
        if n == 1 {
            (body / 2) as i64
        } else {
            (MARGIN + (i * span + (n - 1) / 2) / (n - 1)) as i64
        }
    };

    let mut grid = Grid {
        rows,
        cols: body,
        cells: vec![
            Cell {
                ch: ' ',
                style: Style::Plain,
                owner: Owner::Empty,
            };
            rows * body
        ],
    };
    // Server lines: gone after a crash, dashed while paused.
    let crashes = model.crashes();
    let paused = model.paused();
    for s in 1..=model.n {
        let c = col(s);
        for r in 0..rows as i64 {
            if crashes.get(&s).is_some_and(|&t| r > row(t)) {
                continue;
            }
            let p = paused
                .iter()
                .any(|&(ps, a, b)| ps == s && r > row(a) && r < row(b).max(row(a) + 1));
            grid.set(r, c, if p { '┆' } else { '│' }, Style::Dim, Owner::Life);
        }
    }
    // Compressed idle stretches: a row of ~ with the time it stands for.
    let mut gap_rows = Vec::new();
    for g in axis.gaps() {
        let r = (g.y0 + GAP_UNITS / 2.0).round() as i64;
        gap_rows.push(r);
        let text: Vec<char> = format!(" {} ms idle ", ms(g.t1 - g.t0)).chars().collect();
        let at = body.saturating_sub(text.len()) / 2;
        for c in 0..body {
            let ch = c
                .checked_sub(at)
                .and_then(|k| text.get(k).copied())
                .unwrap_or('~');
            grid.set(r, c as i64, ch, Style::Dim, Owner::Gap);
        }
    }
    // Messages: lines, then arrowheads (and the × of the undelivered), then labels.
    let mut paths = Vec::new();
    let mut heads = Vec::new();
    let kind_color: Vec<u8> = model
        .kind_indices()
        .into_iter()
        .map(|k| (k % 251) as u8)
        .collect();
    for (i, m) in model.messages.iter().enumerate() {
        if m.from == m.to {
            paths.push(Vec::new());
            continue;
        }
        let style = Style::Msg(kind_color[i]);
        let (r0, c0, c1) = (row(m.sent), col(m.from), col(m.to));
        let dir = (c1 - c0).signum();
        let mut path = match m.delivered {
            Some(d) => {
                let r1 = row(d);
                let mut p = raster(r0, c0, r1, c1);
                p.retain(|&(r, c, _)| c != c1 - dir || r < r1);
                heads.push((r1, c1 - dir, if dir > 0 { '>' } else { '<' }, style));
                p
            }
            None => {
                // A stub 40% of the way a typical delivery would go, ending in ×.
                let yt = axis.y(m.sent + model.typical_latency);
                let r1 = (r0 as f64 + 0.4 * (yt - r0 as f64)).round() as i64;
                let ce = c0 + ((c1 - c0) as f64 * 0.4).round() as i64;
                let ce = if ce == c0 { c0 + dir } else { ce };
                let mut p = raster(r0, c0, r1, ce + dir);
                p.retain(|&(_, c, _)| c != ce);
                heads.push((r1.max(r0), ce, '×', Style::Bad));
                p
            }
        };
        path.retain(|&(r, _, _)| r >= 0 && (r as usize) < rows);
        for &(r, c, ch) in &path {
            let Some(cell) = grid.get(r, c) else { continue };
            match cell.owner {
                Owner::Empty | Owner::Line(_) => grid.set(r, c, ch, style, Owner::Line(i)),
                Owner::Life => grid.set(r, c, '┼', style, Owner::Cross),
                _ => {}
            }
        }
        paths.push(path);
    }
    for &(r, c, ch, style) in &heads {
        if grid.get(r, c).is_some_and(|x| x.owner != Owner::Gap) {
            grid.set(r, c, ch, style, Owner::Head);
        }
    }
    let is_life_col = |c: i64| (1..=model.n).any(|s| col(s) == c);
    for (i, m) in model.messages.iter().enumerate() {
        let path = &paths[i];
        let label: Vec<char> = m.kind.chars().collect();
        let len = label.len() as i64;
        let mid = path.len() / 2;
        let mut order: Vec<usize> = (0..path.len()).collect();
        order.sort_by_key(|&k| k.abs_diff(mid));
        let spot = order.into_iter().find_map(|k| {
            let (r, c, _) = path[k];
            let start = c - len / 2;
            let apart = [start - 1, start + len]
                .iter()
                .all(|&x| grid.get(r, x).is_none_or(|cell| cell.owner != Owner::Label));
            (apart
                && (start..start + len).all(|x| {
                    !is_life_col(x)
                        && grid.get(r, x).is_some_and(|cell| {
                            cell.owner == Owner::Empty || cell.owner == Owner::Line(i)
                        })
                }))
            .then_some((r, start))
        });
        if let Some((r, start)) = spot {
            for (k, &ch) in label.iter().enumerate() {
                let style = Style::Msg(kind_color[i]);
                grid.set(r, start + k as i64, ch, style, Owner::Label);
            }
        }
    }
    // Marks, the most important last.
    let mut marks: Vec<_> = model.marks.iter().collect();
    marks.sort_by_key(|m| (priority(m.kind), m.t));
    for m in &marks {
        let servers: Vec<u16> = if m.servers.is_empty() {
            (1..=model.n).collect()
        } else {
            m.servers.clone()
        };
        for s in servers {
            grid.set(
                row(m.t),
                col(s),
                m.kind.symbol(),
                Style::of_mark(m.kind),
                Owner::Mark,
            );
        }
    }
    // Notes in the gutter: at their row; extras move to a free row at most three below (marked
    // ↑), the rest are counted on the row's first note.
    let mut own: Vec<Vec<(String, Style)>> = vec![Vec::new(); rows];
    let mut by_row: Vec<_> = model.marks.iter().collect();
    by_row.sort_by_key(|m| (row(m.t), std::cmp::Reverse(priority(m.kind))));
    for m in by_row {
        let r = row(m.t).clamp(0, rows as i64 - 1) as usize;
        own[r].push((
            format!("{} {}", m.kind.symbol(), m.note),
            Style::of_mark(m.kind),
        ));
    }
    let mut notes: Vec<Option<(String, Style)>> = vec![None; rows];
    for r in 0..rows {
        let mut extra = 0;
        for (k, (text, style)) in own[r].iter().enumerate() {
            if k == 0 {
                notes[r] = Some((text.clone(), *style));
                continue;
            }
            let free = (r + 1..rows.min(r + 4)).find(|&q| notes[q].is_none() && own[q].is_empty());
            match free {
                Some(q) => notes[q] = Some((format!("↑{text}"), *style)),
                None => extra += 1,
            }
        }
        if extra > 0 {
            if let Some((text, _)) = &mut notes[r] {
                *text = format!("(+{extra}) {text}");
            }
        }
    }

    // Compose.
    let paint = |out: &mut String, text: &str, style: Style| {
        if color && style != Style::Plain {
            out.push_str(&format!("\x1b[{}m{text}\x1b[0m", style.ansi()));
        } else {
            out.push_str(text);
        }
    };
    let mut out = String::new();
    let header = format!(
        "{} · n = {} · {} message{} · {}–{} ms · 1 row = {} ms",
        model.title,
        model.n,
        model.messages.len(),
        plural(model.messages.len()),
        ms(model.start),
        ms(model.end),
        ms(axis.us_per_unit.round() as u64)
    );
    paint(&mut out, &fit(&header, width), Style::Strong);
    out.push('\n');
    let mut names = vec![' '; body];
    let mut last_end = 0usize;
    for s in 1..=model.n {
        let name: Vec<char> = format!("s{s}").chars().collect();
        let start = (col(s) as usize).saturating_sub((name.len() - 1) / 2);
        if (s == 1 || start > last_end) && start + name.len() <= body {
            names[start..start + name.len()].copy_from_slice(&name);
            last_end = start + name.len();
        }
    }
    out.push_str(&format!("{:>axis_w$}  ", "ms"));
    paint(&mut out, &names.iter().collect::<String>(), Style::Strong);
    out.push('\n');
    let tick_of = |r: i64| ticks.iter().find(|&&t| row(t) == r).copied();
    for (r, note) in notes.iter().enumerate() {
        let ri = r as i64;
        let (label, bar) = if gap_rows.contains(&ri) {
            (String::new(), '≈')
        } else if let Some(t) = tick_of(ri) {
            (ms(t), '┤')
        } else {
            (String::new(), '│')
        };
        paint(&mut out, &format!("{label:>axis_w$} {bar}"), Style::Dim);
        let mut run = String::new();
        let mut run_style = Style::Plain;
        for c in 0..body {
            let cell = grid.cells[r * body + c];
            if cell.style != run_style && !run.is_empty() {
                paint(&mut out, &run, run_style);
                run.clear();
            }
            run_style = cell.style;
            run.push(cell.ch);
        }
        paint(&mut out, &run, run_style);
        if let Some((text, style)) = note {
            out.push(' ');
            paint(&mut out, &fit(text, gutter), *style);
        }
        // No trailing blanks.
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    }
    let mut footer = Vec::new();
    if axis.gaps().next().is_some() {
        footer.push(
            "~ rows: idle stretches (nothing in flight) compressed, not to scale".to_string(),
        );
    }
    if model.messages.len() > 3 * rows {
        footer.push(format!(
            "dense: {} messages on {rows} rows; zoom in with --from-ms/--to-ms or --ticket",
            model.messages.len()
        ));
    }
    footer.extend(model.footer());
    for line in footer {
        for l in wrap(&[line], width, "  ") {
            out.push_str(&l);
            out.push('\n');
        }
    }
    let mut legend: Vec<String> = vec![
        "legend: ‾-_\\ message".into(),
        "> delivery".into(),
        "× never delivered".into(),
        "┼ crossing".into(),
    ];
    if !paused.is_empty() {
        legend.push("┆ paused".into());
    }
    for (k, name) in MarkKind::LEGEND {
        if model.marks.iter().any(|m| m.kind == *k)
            || (*k == MarkKind::Suspect && model.marks.iter().any(|m| m.kind.symbol() == '?'))
        {
            legend.push(format!("{} {name}", k.symbol()));
        }
    }
    legend.dedup();
    for l in wrap(&legend, width, "        ") {
        out.push_str(&l);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_shallow_and_steep() {
        let p = raster(0, 0, 0, 5);
        assert_eq!(p.iter().map(|c| c.2).collect::<String>(), "----");
        let p = raster(0, 10, 3, 0);
        assert_eq!(p.len(), 9);
        assert!(p
            .iter()
            .all(|&(r, c, _)| (0..=3).contains(&r) && c > 0 && c < 10));
        let p = raster(0, 0, 10, 3);
        assert_eq!(p.len(), 11);
        assert!(p
            .iter()
            .all(|&(_, c, ch)| ch == '\\' && (1..=2).contains(&c)));
    }

    #[test]
    fn fit_and_wrap_respect_the_width() {
        assert_eq!(fit("abcdef", 4), "abc…");
        let words: Vec<String> = (0..30).map(|i| format!("word{i}")).collect();
        assert!(wrap(&words, 20, "  ")
            .iter()
            .all(|l| l.chars().count() <= 20));
    }
}
