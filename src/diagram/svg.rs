//! The SVG rendering: the terminal picture's layout in pixels. Each message is one
//! `<g class="msg">` (a line, an arrowhead or ×, maybe its type as a label) with a `<title>`
//! child — type, endpoints, times — shown on hover; marks carry their whole story (a decision's
//! `why`) the same way. Hand-written, every text escaped.

use super::axis::{Axis, GAP_UNITS};
use super::terminal::priority;
use super::{ms, plural, MarkKind, Model};
use std::fmt::Write;

/// Pixels per axis unit.
const ROW_PX: f64 = 10.0;
/// The tallest diagram area, in units (≤ 900 px).
const MAX_UNITS: f64 = 90.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 84.0;
const NOTES_W: f64 = 330.0;

const PALETTE: [&str; 9] = [
    "#1f77b4", "#e377c2", "#17becf", "#9467bd", "#8c564b", "#bcbd22", "#393b79", "#555555",
    "#008080",
];

/// Text as XML character data or attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mark_color(k: MarkKind) -> &'static str {
    match k {
        MarkKind::Accept => "#1a9641",
        MarkKind::Reject | MarkKind::Crash | MarkKind::Refused | MarkKind::Byzantine => "#d7191c",
        MarkKind::Pause | MarkKind::Resume | MarkKind::LinkFault | MarkKind::Heal => "#e08214",
        MarkKind::ForcedSuspect | MarkKind::Suspect | MarkKind::Trust => "#8e44ad",
        MarkKind::Submit => "#222222",
    }
}

/// An axis-aligned box, for keeping labels apart.
#[derive(Clone, Copy)]
struct Boxed(f64, f64, f64, f64);

impl Boxed {
    fn hits(&self, o: &Boxed) -> bool {
        self.0 < o.2 && o.0 < self.2 && self.1 < o.3 && o.1 < self.3
    }
}

/// The diagram as an SVG document.
pub fn render(model: &Model) -> String {
    let n = model.n.max(1);
    let (times, busy) = model.event_times();
    let dense = model.messages.len() as f64;
    let axis = Axis::new(model.start, model.end, &times, &busy, MAX_UNITS, dense);
    let y = |t| TOP + axis.y(t) * ROW_PX;
    let spacing = if n == 1 {
        0.0
    } else {
        (640.0 / f64::from(n - 1)).clamp(36.0, 150.0)
    };
    let x = |s: u16| LEFT + 40.0 + f64::from(s.max(1) - 1) * spacing;
    let right = x(n) + 40.0;
    let bottom = y(model.end);
    let notes_x = right + 24.0;
    let footer = {
        let mut f = Vec::new();
        if axis.gaps().next().is_some() {
            f.push(
                "Grey bands: idle stretches (nothing in flight), compressed, not to scale.".into(),
            );
        }
        f.extend(model.footer());
        f
    };
    let width = notes_x + NOTES_W;
    // Notes beside the picture, at their time or just below the previous one.
    let mut by_time: Vec<_> = model.marks.iter().collect();
    by_time.sort_by_key(|m| (m.t, std::cmp::Reverse(priority(m.kind))));
    let mut next_y = f64::MIN;
    let notes: Vec<(&super::Mark, f64)> = by_time
        .into_iter()
        .map(|m| {
            let ny = y(m.t).max(next_y);
            next_y = ny + 13.0;
            (m, ny)
        })
        .collect();
    let height = (bottom + 40.0 + 18.0 * footer.len() as f64 + 66.0).max(next_y + 20.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="Helvetica, Arial, sans-serif" font-size="11">
<style>
.life {{ stroke: #999; stroke-width: 1.2; }}
.paused {{ stroke: #e08214; stroke-width: 1.5; stroke-dasharray: 3 3; }}
.tick {{ stroke: #eee; }}
.axis {{ fill: #666; font-size: 10px; }}
.msg line {{ stroke-width: 1.3; }}
.msg:hover line {{ stroke-width: 3; }}
.lbl {{ font-size: 9px; }}
.note {{ font-size: 11px; }}
.gap {{ fill: #f2f2f2; }}
</style>
<rect x="0" y="0" width="{w:.0}" height="{h:.0}" fill="white"/>"#,
        w = width,
        h = height
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(&model.title)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="42" fill="#444">n = {} · {} message{} · {}–{} ms · {} ms per {} px</text>"##,
        n,
        model.messages.len(),
        plural(model.messages.len()),
        ms(model.start),
        ms(model.end),
        ms(axis.us_per_unit.round() as u64),
        ROW_PX
    );
    // Axis: ticks, compressed bands.
    let _ = writeln!(
        s,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">ms</text>"#,
        LEFT - 8.0,
        TOP - 14.0
    );
    for t in axis.ticks(4.0) {
        let ty = y(t);
        let _ = writeln!(
            s,
            r#"<line class="tick" x1="{LEFT:.1}" y1="{ty:.1}" x2="{right:.1}" y2="{ty:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            ty + 3.5,
            ms(t)
        );
    }
    for g in axis.gaps() {
        let gy = TOP + g.y0 * ROW_PX;
        let _ = writeln!(
            s,
            r#"<rect class="gap" x="{LEFT:.1}" y="{gy:.1}" width="{:.1}" height="{:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">≈ {} ms idle (compressed)</text>"#,
            right - LEFT,
            GAP_UNITS * ROW_PX,
            (LEFT + right) / 2.0,
            gy + GAP_UNITS * ROW_PX / 2.0 + 3.5,
            ms(g.t1 - g.t0)
        );
    }
    // Server lines.
    let crashes = model.crashes();
    let paused = model.paused();
    for sv in 1..=n {
        let sx = x(sv);
        let end = crashes.get(&sv).map_or(bottom, |&t| y(t));
        let _ = writeln!(
            s,
            r#"<text x="{sx:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">s{sv}</text><line class="life" x1="{sx:.1}" y1="{TOP:.1}" x2="{sx:.1}" y2="{end:.1}"/>"#,
            TOP - 14.0
        );
        for &(_, a, b) in paused.iter().filter(|p| p.0 == sv) {
            let _ = writeln!(
                s,
                r#"<line class="paused" x1="{sx:.1}" y1="{:.1}" x2="{sx:.1}" y2="{:.1}"/>"#,
                y(a),
                y(b)
            );
        }
    }
    // Partitions and heals across the picture.
    for m in model
        .marks
        .iter()
        .filter(|m| m.kind == MarkKind::Heal || m.note.starts_with("partition"))
    {
        let my = y(m.t);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT:.1}" y1="{my:.1}" x2="{right:.1}" y2="{my:.1}" stroke="#e08214" stroke-dasharray="6 4"/>"##
        );
    }
    // Messages.
    let _ = writeln!(
        s,
        r#"<clipPath id="plot"><rect x="0" y="{TOP:.1}" width="{width:.1}" height="{:.1}"/></clipPath>
<g clip-path="url(#plot)">"#,
        bottom - TOP + 1.0
    );
    let mut placed: Vec<Boxed> = Vec::new();
    let kind_index = model.kind_indices();
    for (m, &k) in model.messages.iter().zip(&kind_index) {
        let color = PALETTE[k % PALETTE.len()];
        let (x0, y0) = (x(m.from), y(m.sent));
        let about = m
            .ticket
            .as_ref()
            .map_or(String::new(), |t| format!(" about {t}"));
        let (x1, y1, title, lost) = match m.delivered {
            Some(d) => (
                x(m.to),
                y(d),
                format!(
                    "{} s{} → s{}{about} (seq {}): sent {} ms, delivered {} ms, {} ms in flight",
                    m.kind,
                    m.from,
                    m.to,
                    m.seq,
                    ms(m.sent),
                    ms(d),
                    ms(d - m.sent)
                ),
                false,
            ),
            None => (
                x0 + 0.4 * (x(m.to) - x0),
                y0 + 0.4 * (y(m.sent + model.typical_latency) - y0),
                format!(
                    "{} s{} → s{}{about} (seq {}): sent {} ms, never delivered",
                    m.kind,
                    m.from,
                    m.to,
                    m.seq,
                    ms(m.sent)
                ),
                true,
            ),
        };
        let _ = write!(
            s,
            r#"<g class="msg"><title>{}</title><line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y1:.1}" stroke="{color}"{}/>"#,
            escape(&title),
            if lost {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            }
        );
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (ux, uy) = (dx / len, dy / len);
        if lost {
            let _ = write!(
                s,
                r##"<text x="{x1:.1}" y="{:.1}" text-anchor="middle" fill="#d7191c" font-size="14" font-weight="bold">×</text>"##,
                y1 + 5.0
            );
        } else if len > 1.0 {
            // Arrowhead: a triangle at the receiver's line.
            let (bx, by) = (x1 - 8.0 * ux, y1 - 8.0 * uy);
            let _ = write!(
                s,
                r#"<path d="M{x1:.1},{y1:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="{color}" stroke="{color}"/>"#,
                bx - 3.5 * uy,
                by + 3.5 * ux,
                bx + 3.5 * uy,
                by - 3.5 * ux
            );
        }
        // The type along the line, where it does not cover another label.
        if !lost && len > 40.0 {
            let angle = uy.atan2(ux).to_degrees();
            let angle = if angle.abs() > 90.0 {
                angle - 180.0 * angle.signum()
            } else {
                angle
            };
            let w = 5.5 * m.kind.chars().count() as f64;
            for f in [0.5, 0.38, 0.62, 0.28, 0.72] {
                let (mx, my) = (x0 + f * dx, y0 + f * dy);
                let (a, b) = (
                    angle.to_radians().cos().abs(),
                    angle.to_radians().sin().abs(),
                );
                let (hw, hh) = (w / 2.0 * a + 5.0 * b, w / 2.0 * b + 5.0 * a);
                let bx = Boxed(mx - hw, my - hh - 3.0, mx + hw, my + hh - 3.0);
                if placed.iter().any(|p| p.hits(&bx)) || my - 8.0 < TOP || my > bottom {
                    continue;
                }
                placed.push(bx);
                let _ = write!(
                    s,
                    r#"<text class="lbl" x="{mx:.1}" y="{:.1}" fill="{color}" text-anchor="middle" transform="rotate({angle:.1} {mx:.1} {my:.1})">{}</text>"#,
                    my - 3.0,
                    escape(&m.kind)
                );
                break;
            }
        }
        s.push_str("</g>\n");
    }
    s.push_str("</g>\n");
    // Marks on the server lines, notes beside the picture with a leader line.
    let mut marks: Vec<_> = model.marks.iter().collect();
    marks.sort_by_key(|m| (priority(m.kind), m.t));
    for m in &marks {
        let servers: Vec<u16> = if m.servers.is_empty() {
            (1..=n).collect()
        } else {
            m.servers.clone()
        };
        let c = mark_color(m.kind);
        let my = y(m.t);
        let _ = write!(s, r#"<g class="mark"><title>{}</title>"#, escape(&m.detail));
        for sv in servers {
            let mx = x(sv);
            match m.kind {
                MarkKind::Crash => {
                    let _ = write!(
                        s,
                        r#"<path d="M{:.1},{:.1} l12,12 m0,-12 l-12,12" stroke="{c}" stroke-width="3"/>"#,
                        mx - 6.0,
                        my - 6.0
                    );
                }
                MarkKind::LinkFault | MarkKind::Heal => {
                    let _ = write!(
                        s,
                        r#"<path d="M{mx:.1},{:.1} l5,5 l-5,5 l-5,-5 Z" fill="{c}"/>"#,
                        my - 5.0
                    );
                }
                _ => {
                    let _ = write!(
                        s,
                        r#"<circle cx="{mx:.1}" cy="{my:.1}" r="7" fill="{c}"/><text x="{mx:.1}" y="{:.1}" text-anchor="middle" fill="white" font-size="9" font-weight="bold">{}</text>"#,
                        my + 3.2,
                        escape(&m.kind.symbol().to_string())
                    );
                }
            }
        }
        s.push_str("</g>\n");
    }
    for &(m, ny) in &notes {
        let my = y(m.t);
        let from_x = m.servers.iter().map(|&sv| x(sv)).fold(LEFT, f64::max);
        let c = mark_color(m.kind);
        let _ = writeln!(
            s,
            r##"<g class="note"><title>{}</title><polyline points="{:.1},{my:.1} {:.1},{my:.1} {:.1},{ny:.1}" stroke="#ccc" stroke-dasharray="2 2" fill="none"/><text class="note" x="{:.1}" y="{:.1}" fill="{c}">{} {}</text></g>"##,
            escape(&m.detail),
            from_x + 8.0,
            right,
            notes_x - 4.0,
            notes_x,
            ny + 4.0,
            escape(&m.kind.symbol().to_string()),
            escape(&m.note)
        );
    }
    // Footer and legend.
    let mut fy = bottom + 30.0;
    for line in &footer {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{fy:.1}" fill="#444">{}</text>"##,
            escape(line)
        );
        fy += 18.0;
    }
    fy += 6.0;
    let _ = write!(
        s,
        r##"<g class="legend"><text x="10" y="{fy:.1}" font-weight="bold">Legend</text><line x1="70" y1="{:.1}" x2="110" y2="{:.1}" stroke="#1f77b4" stroke-width="1.3"/><text x="116" y="{fy:.1}">message (hover: type, times)</text><line x1="300" y1="{:.1}" x2="330" y2="{:.1}" stroke="#555" stroke-dasharray="4 3"/><text x="336" y="{fy:.1}"><tspan fill="#d7191c">×</tspan> never delivered</text>"##,
        fy - 4.0,
        fy - 4.0,
        fy - 4.0,
        fy - 4.0
    );
    let mut lx = 460.0;
    for (k, name) in MarkKind::LEGEND {
        if !model.marks.iter().any(|m| m.kind == *k) {
            continue;
        }
        let item_w = 14.0 + 7.0 * name.len() as f64;
        if lx + item_w > width - 10.0 {
            lx = 70.0;
            fy += 16.0;
        }
        let _ = write!(
            s,
            r#"<text x="{lx:.1}" y="{fy:.1}" fill="{}"><tspan font-weight="bold">{}</tspan> {}</text>"#,
            mark_color(*k),
            escape(&k.symbol().to_string()),
            escape(name)
        );
        lx += item_w;
    }
    s.push_str("</g>\n</svg>\n");
    s
}
