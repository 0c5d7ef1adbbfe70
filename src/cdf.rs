//! `<protocol>/latency-cdf.svg`: a run's latency distribution as a cumulative curve (fraction of
//! decisions within a latency, from its HDR histogram), with the paper's theory latency drawn as
//! a vertical line — the one number Table 1 gives, for fault-free, uncontended runs.

use crate::latency::Latencies;
use plotters::prelude::*;

const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(31, 119, 180);
const GREY: RGBColor = RGBColor(120, 120, 120);

type DrawResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The CDF of `lat` as an SVG document. `title` names the run, `delta_ms` converts the theory
/// latency `theory_delta` (in δ) to ms.
pub fn svg(
    lat: &Latencies,
    title: &str,
    delta_ms: f64,
    theory_delta: f64,
) -> anyhow::Result<String> {
    render(lat, title, delta_ms, theory_delta).map_err(|e| anyhow::anyhow!("cannot draw: {e}"))
}

/// (latency ms, fraction of decisions ≤ it): the step points of the cumulative curve.
fn points(lat: &Latencies) -> Vec<(f64, f64)> {
    let mut pts = vec![(0.0, 0.0)];
    let n = lat.len() as f64;
    let mut seen = 0u64;
    for (value, count) in lat.recorded() {
        let x = value as f64 / 1000.0;
        pts.push((x, seen as f64 / n));
        seen += count;
        pts.push((x, seen as f64 / n));
    }
    pts
}

fn render(lat: &Latencies, title: &str, delta_ms: f64, theory_delta: f64) -> DrawResult<String> {
    let pts = points(lat);
    let theory_ms = theory_delta * delta_ms;
    let xmax = pts.last().map_or(0.0, |p| p.0).max(theory_ms).max(1e-3) * 1.08;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (760, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{title}: latency distribution ({} decisions)", lat.len()),
                (FONT, 20),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc("latency, ms (a server's receipt of a ticket → its decision)")
            .y_desc("fraction of decisions within it")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()?;
        chart
            .draw_series(LineSeries::new(pts, BLUE.stroke_width(2)))?
            .label("measured (HDR histogram)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                vec![(theory_ms, 0.0), (theory_ms, 1.0)],
                GREY.stroke_width(2),
            ))?
            .label(format!(
                "theory: {theory_delta}δ = {theory_ms} ms (fault-free, uncontended)"
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREY.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(out)
}
