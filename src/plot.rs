//! A sweep's figures as SVG (plotters' SVG backend: text is SVG `<text>`, no font files read):
//! `latency.svg` (latency in δ, max and p50, against the first swept key), `messages.svg`
//! (messages per ticket against it) and, when a load key is swept (`sweep::LOAD_KEYS`),
//! `throughput.svg` (client latency in ms against tickets decided per second after the warm-up;
//! `workload.rate` is a load key too). At δ = 0 there is no δ unit: those points are left out of
//! `latency.svg` (their latencies are in `sweep.csv`, in ms). Measured figures are
//! points on lines, one colour per run label (protocol, or protocol / behaviour); the paper's
//! theory is a wide pale line of the same colour, so a measurement on theory runs inside its
//! band. With several swept keys, one panel per values of the other keys (small multiples, at
//! most three a row, sharing their axes; latency vs throughput: each its own scales), each with
//! one series per run label.

use crate::report::{RunSummary, Summary};
use crate::sweep::{self, display_value, numeric_value, SweepReport};
use anyhow::Context;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// matplotlib's tab10: distinct on white, safe for the common colour-vision deficiencies.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const FONT: &str = "sans-serif";

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Look {
    /// Measured: solid line, filled circles (max latency, messages per ticket).
    Solid,
    /// Measured: dashed line, hollow squares (p50 latency).
    Dashed,
    /// Theory: a wide pale line.
    Theory,
}

struct Line {
    colour: RGBColor,
    look: Look,
    points: Vec<(f64, f64)>,
}

/// One chart of a figure: a single one, or one per values of the keys other than the x axis's.
struct Panel {
    /// `concurrency=4, delta_ms=10` with several swept keys; none with one.
    title: Option<String>,
    lines: Vec<Line>,
    /// Its own x ticks and y range (latency vs throughput at several δ: scales far apart);
    /// `None`: the figure's ticks and a y range shared by every panel.
    own_scale: Option<Ticks>,
}

/// Where the x ticks go, and what they say.
enum Ticks {
    /// At these values, printed as numbers.
    At(Vec<f64>),
    /// At 0, 1, …: these names (a swept key whose values are not numbers).
    Names(Vec<String>),
}

/// (label, colour, look): one entry per run label and way of drawing it.
type Legend = Vec<(String, RGBColor, Look)>;

struct Figure {
    title: String,
    note: String,
    x_desc: String,
    y_desc: String,
    ticks: Ticks,
    panels: Vec<Panel>,
    legend: Legend,
}

/// A series: one run label (protocol, or protocol / behaviour) in one panel, with its rows in
/// point order.
struct Series<'a> {
    label: String,
    rows: Vec<(usize, &'a Summary, &'a RunSummary)>,
}

/// The rows of a sweep grouped into panels (by the values of every key but `skip`), and within
/// a panel into series (by run label); and every run label, in order (a label's colour is its
/// place here, the same in every panel).
struct Grouped<'a> {
    panels: Vec<(Option<String>, Vec<Series<'a>>)>,
    labels: Vec<String>,
}

fn group<'a>(report: &'a SweepReport, skip: &str) -> Grouped<'a> {
    let mut g = Grouped {
        panels: Vec::new(),
        labels: Vec::new(),
    };
    for (i, p) in report.points.iter().enumerate() {
        let others: Vec<String> = p
            .point
            .values
            .iter()
            .filter(|(k, _)| k != skip)
            .map(|(k, v)| format!("{}={}", short_key(k), display_value(v)))
            .collect();
        let title = (!others.is_empty()).then(|| others.join(", "));
        let at = match g.panels.iter().position(|(t, _)| *t == title) {
            Some(at) => at,
            None => {
                g.panels.push((title, Vec::new()));
                g.panels.len() - 1
            }
        };
        let panel = &mut g.panels[at].1;
        for r in &p.summary.runs {
            let label = r.label();
            if !g.labels.contains(&label) {
                g.labels.push(label.clone());
            }
            match panel.iter_mut().find(|s| s.label == label) {
                Some(s) => s.rows.push((i, &p.summary, r)),
                None => panel.push(Series {
                    label,
                    rows: vec![(i, &p.summary, r)],
                }),
            }
        }
    }
    g
}

impl Grouped<'_> {
    fn colour(&self, label: &str) -> RGBColor {
        let i = self.labels.iter().position(|l| l == label).unwrap_or(0);
        COLOURS[i % COLOURS.len()]
    }

    /// A legend entry per run label and measure.
    fn legend(&self, measures: &[(Look, &str)]) -> Legend {
        self.labels
            .iter()
            .flat_map(|l| {
                measures
                    .iter()
                    .map(move |(look, what)| (format!("{l} {what}"), self.colour(l), *look))
            })
            .collect()
    }
}

fn short_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// A swept key with its unit, for an axis.
fn key_desc(key: &str) -> String {
    let unit = match key {
        "cluster.servers" => Some("n, servers"),
        "workload.concurrency" => Some("tickets in flight"),
        "workload.rate" => Some("tickets/s offered"),
        "workload.tickets" => Some("tickets"),
        "workload.duplicates" => Some("fraction of tickets"),
        k if k.ends_with("_ms") => Some("ms"),
        _ => None,
    };
    match unit {
        Some(u) => format!("{key} ({u})"),
        None => key.to_string(),
    }
}

/// The x position of every point for the first key, and the ticks: its values when they are
/// all numbers, else their positions in the sweep, named.
fn first_key_x(report: &SweepReport) -> (Vec<f64>, Ticks) {
    let key = &report.keys[0];
    let texts: Vec<&str> = report
        .points
        .iter()
        .map(|p| p.point.get(key).unwrap_or(""))
        .collect();
    if let Some(xs) = texts
        .iter()
        .map(|t| numeric_value(t))
        .collect::<Option<Vec<f64>>>()
    {
        let mut ticks = xs.clone();
        ticks.sort_by(f64::total_cmp);
        ticks.dedup();
        return (xs, Ticks::At(ticks));
    }
    let mut names: Vec<String> = Vec::new();
    let xs = texts
        .iter()
        .map(|t| {
            let name = display_value(t);
            let i = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            i as f64
        })
        .collect();
    (xs, Ticks::Names(names))
}

fn mode_text(report: &SweepReport) -> &'static str {
    let sim = report.points.iter().any(|p| p.summary.mode.name() == "sim");
    let procs = report
        .points
        .iter()
        .any(|p| p.summary.mode.name() == "processes");
    match (sim, procs) {
        (true, true) => "simulator and real processes",
        (false, true) => "real processes",
        _ => "simulator",
    }
}

/// A measured or theory figure of a row, for the y axis.
type Measure = (Look, &'static str, fn(&RunSummary) -> Option<f64>);

/// Measures against the first swept key: one panel per values of the other keys, one series per
/// run label.
fn by_first_key(report: &SweepReport, measures: &[Measure]) -> (Vec<Panel>, Legend, Ticks) {
    let (xs, ticks) = first_key_x(report);
    let g = group(report, &report.keys[0]);
    let panels = g
        .panels
        .iter()
        .map(|(title, series)| Panel {
            title: title.clone(),
            own_scale: None,
            lines: series
                .iter()
                .flat_map(|s| {
                    measures.iter().map(|(look, _, f)| Line {
                        colour: g.colour(&s.label),
                        look: *look,
                        points: s
                            .rows
                            .iter()
                            .filter_map(|(i, _, r)| f(r).map(|y| (xs[*i], y)))
                            .collect(),
                    })
                })
                .collect(),
        })
        .collect();
    let names: Vec<(Look, &str)> = measures.iter().map(|(l, n, _)| (*l, *n)).collect();
    (panels, g.legend(&names), ticks)
}

fn theory_note(report: &SweepReport) -> String {
    format!(
        "{}; theory: the paper's figure for fault-free, uncontended runs (Table 1)",
        mode_text(report)
    )
}

/// Latency in δ (max and p50) against the first key, theory as pale lines.
fn latency_figure(report: &SweepReport) -> Figure {
    let (panels, legend, ticks) = by_first_key(
        report,
        &[
            (Look::Theory, "theory", |r| Some(r.theory.latency_delta)),
            (Look::Solid, "max", |r| r.latency_delta.max),
            (Look::Dashed, "p50", |r| r.latency_delta.p50),
        ],
    );
    Figure {
        title: format!(
            "{}: validation latency vs {}",
            report.scenario, report.keys[0]
        ),
        note: theory_note(report),
        x_desc: key_desc(&report.keys[0]),
        y_desc: "latency (δ, one message delay)".into(),
        ticks,
        panels,
        legend,
    }
}

/// Messages per ticket against the first key, theory as pale lines.
fn messages_figure(report: &SweepReport) -> Figure {
    let (panels, legend, ticks) = by_first_key(
        report,
        &[
            (Look::Theory, "theory", |r| {
                Some(r.theory.messages_per_ticket as f64)
            }),
            (Look::Solid, "measured", |r| Some(r.messages_per_ticket)),
        ],
    );
    Figure {
        title: format!(
            "{}: messages per ticket vs {}",
            report.scenario, report.keys[0]
        ),
        note: theory_note(report),
        x_desc: key_desc(&report.keys[0]),
        y_desc: "server→server messages per ticket".into(),
        ticks,
        panels,
        legend,
    }
}

/// Client latency in ms (max and p50) against the measured throughput: one panel per values of
/// the keys other than `load`, one series per run label, its points in the sweep's order of `load`; theory
/// (uncontended) as a level pale line across the series.
fn throughput_figure(report: &SweepReport, load: &str) -> Figure {
    let g = group(report, load);
    let mut panels = Vec::new();
    for (title, series) in &g.panels {
        let mut xmax: f64 = 0.0;
        let mut lines = Vec::new();
        for s in series {
            let colour = g.colour(&s.label);
            let pts = |f: fn(&RunSummary) -> Option<f64>| -> Vec<(f64, f64)> {
                s.rows
                    .iter()
                    .filter_map(|(_, _, r)| Some((sweep::throughput(r)?, f(r)?)))
                    .collect()
            };
            let max = pts(|r| r.client_latency_ms.max);
            let (lo, hi) = max.iter().fold((f64::INFINITY, 0f64), |(lo, hi), p| {
                (lo.min(p.0), hi.max(p.0))
            });
            xmax = xmax.max(hi);
            if let (Some((_, summary, r)), true) = (s.rows.first(), lo.is_finite()) {
                let theory = sweep::theory_latency_ms(summary, r);
                lines.push(Line {
                    colour,
                    look: Look::Theory,
                    points: vec![(lo, theory), (hi, theory)],
                });
            }
            lines.push(Line {
                colour,
                look: Look::Solid,
                points: max,
            });
            lines.push(Line {
                colour,
                look: Look::Dashed,
                points: pts(|r| r.client_latency_ms.p50),
            });
        }
        panels.push(Panel {
            title: title.clone(),
            lines,
            own_scale: Some(Ticks::At(nice_ticks(xmax))),
        });
    }
    Figure {
        title: format!("{}: latency vs throughput ({load} swept)", report.scenario),
        note: format!(
            "{}; theory: one uncontended ticket (Table 1), drawn across each series",
            mode_text(report)
        ),
        x_desc: "throughput (tickets decided per second, after the warm-up)".into(),
        y_desc: "client latency (ms, intended submission → decision seen)".into(),
        ticks: Ticks::At(Vec::new()),
        panels,
        legend: g.legend(&[
            (Look::Theory, "theory"),
            (Look::Solid, "max"),
            (Look::Dashed, "p50"),
        ]),
    }
}

/// Round ticks from 0 to at least `max` (steps of 1, 2 or 5 × 10^k, about six of them).
fn nice_ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A number for a tick label: no trailing zeros.
fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws `fig` as an SVG document: the title, the panels (up to three a row) over the note, and
/// the legend on the right.
fn render(fig: &Figure) -> DrawResult<String> {
    const TOP: u32 = 44;
    const NOTE: u32 = 28;
    const LEGEND_W: u32 = 330;
    const ROW: i32 = 20;
    let k = fig.panels.len().max(1) as u32;
    let cols = k.min(3);
    let rows = k.div_ceil(cols);
    let (pw, ph) = if k == 1 { (660, 560) } else { (500, 400) };
    let legend_h = 130 + ROW as u32 * fig.legend.len() as u32;
    let (w, h) = (
        cols * pw + LEGEND_W,
        (TOP + rows * ph + NOTE).max(TOP + legend_h),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            fig.title.clone(),
            (20, 14),
            (FONT, 24).into_font().color(&BLACK),
        ))?;
        let (_, body) = root.split_vertically(TOP);
        let (charts, legend) = body.split_horizontally(cols * pw);
        let (grid, note) = charts.split_vertically(rows * ph);
        let shared = y_top(fig.panels.iter().flat_map(|p| &p.lines));
        let cells = grid.split_evenly((rows as usize, cols as usize));
        for (panel, cell) in fig.panels.iter().zip(&cells) {
            let ymax = match panel.own_scale {
                Some(_) => y_top(&panel.lines),
                None => shared,
            };
            draw_chart(fig, panel, cell, ymax)?;
        }
        note.draw(&Text::new(
            fig.note.clone(),
            (20, 6),
            (FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
        ))?;
        draw_legend(fig, &legend, ROW)?;
        root.present()?;
    }
    Ok(svg)
}

/// The top of a y axis from 0 that shows every point of `lines`, with room above.
fn y_top<'a>(lines: impl IntoIterator<Item = &'a Line>) -> f64 {
    let max = lines
        .into_iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0f64, f64::max);
    if max > 0.0 {
        max * 1.15
    } else {
        1.0
    }
}

fn draw_chart(fig: &Figure, panel: &Panel, area: &Area<'_>, ymax: f64) -> DrawResult<()> {
    let (xs, names): (Vec<f64>, Option<&Vec<String>>) =
        match panel.own_scale.as_ref().unwrap_or(&fig.ticks) {
            Ticks::At(v) => (v.clone(), None),
            Ticks::Names(n) => ((0..n.len()).map(|i| i as f64).collect(), Some(n)),
        };
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = if names.is_some() {
        0.5
    } else if hi > lo {
        (hi - lo) * 0.06
    } else {
        (lo.abs() * 0.1).max(0.5)
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(14)
        .x_label_area_size(56)
        .y_label_area_size(72);
    if let Some(title) = &panel.title {
        builder.caption(title, (FONT, 18));
    }
    let mut chart = builder.build_cartesian_2d(
        KeyAxis {
            range: (lo - pad)..(hi + pad),
            keys: xs,
        },
        0f64..ymax,
    )?;
    let label_x = |x: &f64| match names {
        Some(n) => n.get(x.round() as usize).cloned().unwrap_or_default(),
        None => tick(*x),
    };
    chart
        .configure_mesh()
        .x_desc(&fig.x_desc)
        .y_desc(&fig.y_desc)
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 15))
        .x_label_formatter(&label_x)
        .y_label_formatter(&|y: &f64| tick(*y))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    // Theory first: the measured lines go on top of their bands.
    for l in panel.lines.iter().filter(|l| l.look == Look::Theory) {
        chart.draw_series(LineSeries::new(l.points.clone(), style(l.colour, l.look)))?;
    }
    for (li, l) in panel.lines.iter().enumerate() {
        let at = l.points.iter().map(|&p| (p, dodge(&panel.lines, li, p)));
        match l.look {
            Look::Theory => {}
            Look::Dashed => {
                chart.draw_series(DashedLineSeries::new(
                    l.points.clone(),
                    6,
                    4,
                    style(l.colour, l.look),
                ))?;
                chart.draw_series(
                    at.map(|(p, dx)| EmptyElement::at(p) + hollow_square(l.colour, dx)),
                )?;
            }
            Look::Solid => {
                chart.draw_series(LineSeries::new(l.points.clone(), style(l.colour, l.look)))?;
                chart.draw_series(at.map(|(p, dx)| {
                    EmptyElement::at(p) + Circle::new((dx, 0), 4, l.colour.filled())
                }))?;
            }
        }
    }
    Ok(())
}

/// A linear x axis whose ticks and grid lines are exactly `keys` (the swept values), not round
/// numbers near them.
struct KeyAxis {
    range: Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for KeyAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let at = (value - self.range.start) / span;
        limit.0 + (at * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

fn hollow_square(c: RGBColor, dx: i32) -> Rectangle<(i32, i32)> {
    Rectangle::new([(dx - 5, -5), (dx + 5, 5)], c.stroke_width(2))
}

/// Pixels to move the marker of `lines[li]` at `p` sideways: markers of lines drawn alike that
/// fall on the same spot are set side by side, 11 px apart, so every series stays visible (the
/// lines themselves stay exact).
fn dodge(lines: &[Line], li: usize, p: (f64, f64)) -> i32 {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    let look = lines[li].look;
    let group: Vec<usize> = (0..lines.len())
        .filter(|&j| {
            lines[j].look == look
                && lines[j]
                    .points
                    .iter()
                    .any(|q| close(q.0, p.0) && close(q.1, p.1))
        })
        .collect();
    let k = group.iter().position(|&j| j == li).unwrap_or(0) as f64;
    ((k - (group.len() as f64 - 1.0) / 2.0) * 11.0).round() as i32
}

fn style(colour: RGBColor, look: Look) -> ShapeStyle {
    match look {
        Look::Theory => colour.mix(0.3).stroke_width(9),
        Look::Solid => colour.stroke_width(2),
        Look::Dashed => colour.stroke_width(1),
    }
}

/// The legend: a sample of each way a series is drawn and its label, one per row.
fn draw_legend(fig: &Figure, area: &Area<'_>, row: i32) -> DrawResult<()> {
    let grey = |size: u32| (FONT, size).into_font().color(&RGBColor(90, 90, 90));
    area.draw(&Text::new(
        "legend",
        (8, 24),
        (FONT, 17).into_font().color(&BLACK),
    ))?;
    area.draw(&Text::new(
        "measured: points on lines (side by side where they",
        (8, 44),
        grey(14),
    ))?;
    area.draw(&Text::new(
        "coincide); theory: pale bands",
        (8, 61),
        grey(14),
    ))?;
    for (i, (label, colour, look)) in fig.legend.iter().enumerate() {
        let y = 92 + row * i as i32;
        let sample = vec![(8, y), (44, y)];
        let style = style(*colour, *look);
        match look {
            Look::Theory => area.draw(&PathElement::new(sample, style))?,
            Look::Solid => {
                area.draw(&PathElement::new(sample, style))?;
                area.draw(&Circle::new((26, y), 4, colour.filled()))?;
            }
            Look::Dashed => {
                for x in [8, 20, 32] {
                    area.draw(&PathElement::new(vec![(x, y), (x + 7, y)], style))?;
                }
                area.draw(&(EmptyElement::at((26, y)) + hollow_square(*colour, 0)))?;
            }
        }
        let label: String = if label.chars().count() > 40 {
            label.chars().take(39).chain(['…']).collect()
        } else {
            label.clone()
        };
        area.draw(&Text::new(
            label,
            (52, y - 7),
            (FONT, 15).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

/// Writes the sweep's figures into `dir`; returns their paths. Nothing when no point ran.
pub fn write_all(dir: &Path, report: &SweepReport) -> anyhow::Result<Vec<PathBuf>> {
    if report.points.is_empty() || report.keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut figures = vec![
        ("latency.svg", latency_figure(report)),
        ("messages.svg", messages_figure(report)),
    ];
    if let Some(load) = report
        .keys
        .iter()
        .find(|k| sweep::LOAD_KEYS.contains(&k.as_str()))
    {
        figures.push(("throughput.svg", throughput_figure(report, load)));
    }
    let mut written = Vec::new();
    for (name, fig) in figures {
        let svg = render(&fig).map_err(|e| anyhow::anyhow!("cannot draw {name}: {e}"))?;
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_cover_the_range_in_round_steps() {
        assert_eq!(nice_ticks(9.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(48.0), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(nice_ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(3.0), "3");
    }
}
