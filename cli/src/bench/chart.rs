//! `pipewriter bench --chart FILE`: one SVG chart of a run. For every workload, each
//! contender's standing against the workload's baseline (its first contender, pipewriter's
//! main entry), from the ratios of the same repetition: a bar at the median, a line from the
//! smallest to the largest. A ratio above 1 means pipewriter did better than that contender
//! on the case's first metric (more throughput, or less time); the dashed line is parity.
//! Drawn with `plotters`' SVG backend (no fonts or bitmaps needed).

use std::io;
use std::path::Path;

use plotters::prelude::*;

use super::harness::{CaseResult, Report};

/// One bar: a case's contender against the case's baseline.
struct Bar {
    label: String,
    median: f64,
    min: f64,
    max: f64,
}

/// pipewriter's standing against `contender` in every repetition: `ours / theirs` for a
/// throughput, `theirs / ours` for a time (so above 1 is better for pipewriter either way).
fn standing(case: &CaseResult, contender: usize) -> Vec<f64> {
    let (Some((_, ours)), Some((_, theirs))) = (case.samples.first(), case.samples.get(contender))
    else {
        return Vec::new();
    };
    let higher_is_better = case.metrics.first().is_none_or(|m| m.higher_is_better);
    ours.iter()
        .zip(theirs)
        .filter_map(|(o, t)| {
            let (o, t) = (*o.first()?, *t.first()?);
            let r = if higher_is_better { o / t } else { t / o };
            r.is_finite().then_some(r)
        })
        .collect()
}

fn bars(report: &Report) -> Vec<Bar> {
    let mut bars = Vec::new();
    for case in &report.cases {
        for (i, (name, _)) in case.samples.iter().enumerate().skip(1) {
            let mut ratios = standing(case, i);
            if ratios.is_empty() {
                continue;
            }
            ratios.sort_by(f64::total_cmp);
            let n = ratios.len();
            let median = if n % 2 == 1 {
                ratios[n / 2]
            } else {
                (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
            };
            bars.push(Bar {
                label: format!("{}: vs {name}", case.title),
                median,
                min: ratios[0],
                max: ratios[n - 1],
            });
        }
    }
    bars
}

/// Writes the chart of `report` to `path` as SVG.
pub(crate) fn write_svg(report: &Report, path: &Path) -> io::Result<()> {
    let bars = bars(report);
    if bars.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the run has no case with a contender to compare: nothing to chart",
        ));
    }
    let row = 34u32;
    let height = 110 + row * bars.len() as u32;
    // A log axis around parity: a ratio of 2 and one of 0.5 are as far from 1.
    let high = bars.iter().map(|b| b.max).fold(1.0f64, f64::max) * 1.3;
    let low = bars.iter().map(|b| b.min).fold(1.0f64, f64::min) / 1.3;
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    draw(&root, &bars, low, high).map_err(|e| io::Error::other(format!("chart: {e}")))?;
    root.present()
        .map_err(|e| io::Error::other(format!("cannot write {}: {e}", path.display())))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    bars: &[Bar],
    low: f64,
    high: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = bars.len();
    let mut chart = ChartBuilder::on(root)
        .caption(
            "pipewriter against each contender: median ratio of the same repetition, line: min–max (> 1: pipewriter better)",
            ("sans-serif", 16),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d((low..high).log_scale(), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("pipewriter / contender (log scale; throughput ratio, or inverse time ratio)")
        .x_label_formatter(&|x| format!("{x:.2}"))
        .draw()?;
    // Row i (from the top) spans y in [n-1-i, n-i): its label above, its bar below.
    let y_of = |i: usize| (n - 1 - i) as f64;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        Text::new(
            b.label.clone(),
            (low * 1.02, y_of(i) + 0.95),
            ("sans-serif", 12),
        )
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let y = y_of(i);
        let color = if b.median >= 1.0 {
            GREEN.mix(0.6)
        } else {
            RED.mix(0.5)
        };
        Rectangle::new([(1.0, y + 0.1), (b.median, y + 0.5)], color.filled())
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let y = y_of(i) + 0.3;
        PathElement::new(vec![(b.min, y), (b.max, y)], BLACK.stroke_width(2))
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        Text::new(
            format!("{:.2}×", b.median),
            (b.max.max(b.median) * 1.02, y_of(i) + 0.45),
            ("sans-serif", 12),
        )
    }))?;
    // Parity.
    chart.draw_series(DashedLineSeries::new(
        vec![(1.0, 0.0), (1.0, n as f64)],
        6,
        4,
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}
