//! What every workload shares: contenders run interleaved, medians and same-repetition
//! ratios, the targets they are held to, and the Markdown table and CSV of a run.

use std::fmt::Write as _;
use std::io;
use std::time::Instant;

use super::probes::machine_description;
use super::Plan;
use crate::output::say;

/// What a case measures; each sample has one value per metric, in this order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    pub(crate) higher_is_better: bool,
}

impl Metric {
    /// A metric where more is better (a throughput).
    pub(crate) const fn higher_is_better(name: &'static str) -> Metric {
        Metric {
            name,
            higher_is_better: true,
        }
    }

    /// A metric where less is better (a time).
    #[cfg_attr(windows, allow(dead_code))] // Only the Unix workloads measure times.
    pub(crate) const fn lower_is_better(name: &'static str) -> Metric {
        Metric {
            name,
            higher_is_better: false,
        }
    }
}

/// One contender of a case: a name and a function that runs it once.
pub(crate) struct Contender<'a> {
    pub(crate) name: String,
    pub(crate) run: Box<dyn FnMut() -> io::Result<Vec<f64>> + 'a>,
}

impl<'a> Contender<'a> {
    pub(crate) fn new(
        name: impl Into<String>,
        run: impl FnMut() -> io::Result<Vec<f64>> + 'a,
    ) -> Contender<'a> {
        Contender {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// The samples of one case; the first contender is pipewriter's main entry.
#[derive(Debug)]
pub(crate) struct CaseResult {
    pub(crate) title: String,
    pub(crate) metrics: Vec<Metric>,
    /// Per contender: its name and its samples (one `Vec<f64>` per repetition).
    pub(crate) samples: Vec<(String, Vec<Vec<f64>>)>,
}

impl CaseResult {
    fn index(&self, contender: &str) -> Option<usize> {
        self.samples.iter().position(|(n, _)| n == contender)
    }

    /// Median over repetitions of `a / b` for metric `m`, both taken in the same repetition.
    pub(crate) fn paired_ratio(&self, a: &str, b: &str, m: usize) -> Option<f64> {
        let (ia, ib) = (self.index(a)?, self.index(b)?);
        let ratios = self.samples[ia]
            .1
            .iter()
            .zip(&self.samples[ib].1)
            .map(|(x, y)| x[m] / y[m])
            .collect();
        median(ratios)
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Runs one case: one warm-up run per contender, then `reps` rounds in which every contender
/// runs once, the starting contender rotating so that none always runs first.
pub(crate) fn run_case(
    plan: &Plan,
    title: &str,
    metrics: &[Metric],
    mut contenders: Vec<Contender<'_>>,
) -> io::Result<CaseResult> {
    let reps = plan.reps;
    if let Some(filter) = &plan.contender {
        contenders.retain(|c| c.name.contains(filter.as_str()));
    }
    say!("bench: {title}");
    for c in &mut contenders {
        let t = Instant::now();
        (c.run)().map_err(|e| annotate(e, title, &c.name))?;
        say!(
            "  warm-up {:<44} {:>8.3} s",
            c.name,
            t.elapsed().as_secs_f64()
        );
    }
    let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::new(); contenders.len()];
    let n = contenders.len();
    for rep in 0..reps as usize {
        for k in 0..n {
            let i = (rep + k) % n;
            let c = &mut contenders[i];
            let sample = (c.run)().map_err(|e| annotate(e, title, &c.name))?;
            debug_assert_eq!(sample.len(), metrics.len());
            say!(
                "  rep {rep} {:<46} {}",
                c.name,
                fmt_sample(&sample, metrics)
            );
            samples[i].push(sample);
        }
    }
    Ok(CaseResult {
        title: title.to_owned(),
        metrics: metrics.to_vec(),
        samples: contenders
            .into_iter()
            .map(|c| c.name)
            .zip(samples)
            .collect(),
    })
}

fn annotate(e: io::Error, title: &str, contender: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{title} / {contender}: {e}"))
}

fn fmt_sample(sample: &[f64], metrics: &[Metric]) -> String {
    sample
        .iter()
        .zip(metrics)
        .map(|(v, m)| format!("{} {}", fmt_num(*v), m.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Three significant digits, no exponent for the ranges we print.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A target of a case: the median over repetitions of `ours / base` for one metric, both
/// taken in the same repetition, must be at least (or at most) `bound`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    ours: &'a str,
    base: &'a str,
    metric: usize,
    at_least: bool,
    bound: f64,
}

impl<'a> Target<'a> {
    /// `ours / base ≥ bound` for metric number `metric`.
    pub(crate) fn at_least(ours: &'a str, base: &'a str, metric: usize, bound: f64) -> Self {
        Target {
            ours,
            base,
            metric,
            at_least: true,
            bound,
        }
    }

    /// `ours / base ≤ bound` for metric number `metric`.
    #[cfg_attr(windows, allow(dead_code))] // Only the Unix workloads have upper bounds.
    pub(crate) fn at_most(ours: &'a str, base: &'a str, metric: usize, bound: f64) -> Self {
        Target {
            at_least: false,
            ..Target::at_least(ours, base, metric, bound)
        }
    }
}

/// A target a contender is held to (a ratio against a baseline of the same case).
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) workload: String,
    pub(crate) target: String,
    pub(crate) measured: Option<f64>,
    /// `true`: `measured` must be at least `bound`; `false`: at most.
    pub(crate) at_least: bool,
    pub(crate) bound: f64,
    pub(crate) unit: &'static str,
}

impl Check {
    /// `target` as measured in `case`.
    pub(crate) fn ratio(case: &CaseResult, target: &Target<'_>) -> Check {
        let Target {
            ours,
            base,
            metric,
            at_least,
            bound,
        } = *target;
        let m = case.metrics[metric];
        let cmp = if at_least { "≥" } else { "≤" };
        Check {
            workload: case.title.clone(),
            target: format!("{ours} {cmp} {bound}× {base} ({})", m.name),
            measured: case.paired_ratio(ours, base, metric),
            at_least,
            bound,
            unit: "×",
        }
    }

    fn met(&self) -> Option<bool> {
        let v = self.measured?;
        Some(if self.at_least {
            v >= self.bound
        } else {
            v <= self.bound
        })
    }
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) cases: Vec<CaseResult>,
    pub(crate) checks: Vec<Check>,
    /// Free-form lines (e.g. the many-writers facts, skipped workloads).
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// Adds a case, and its targets as measured in it, to the report.
    pub(crate) fn add(&mut self, case: CaseResult, targets: &[Target<'_>]) {
        self.checks
            .extend(targets.iter().map(|t| Check::ratio(&case, t)));
        self.cases.push(case);
    }

    pub(crate) fn markdown(&self, plan: &Plan) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### pipewriter bench ({} run, {} timed repetitions per contender, contenders interleaved)\n",
            if plan.quick { "quick" } else { "full" },
            plan.reps
        );
        let _ = writeln!(out, "Machine: {}\n", machine_description());
        if plan.max_write_size.is_some() || plan.high_water.is_some() {
            let _ = writeln!(
                out,
                "pipewriter tunables: max_write_size {:?}, high_water {:?}\n",
                plan.max_write_size, plan.high_water
            );
        }
        for case in &self.cases {
            let Some((ours, _)) = case.samples.first() else {
                continue;
            };
            let _ = writeln!(out, "#### {}\n", case.title);
            let mut header = String::from("| contender |");
            let mut rule = String::from("|---|");
            for m in &case.metrics {
                let dir = if m.higher_is_better { "↑" } else { "↓" };
                let _ = write!(header, " {} {dir} median (min–max) |", m.name);
                rule.push_str("---|");
            }
            let _ = write!(header, " {} / this ({}) |", ours, case.metrics[0].name);
            rule.push_str("---|");
            let _ = writeln!(out, "{header}\n{rule}");
            for (name, samples) in &case.samples {
                let mut row = format!("| {name} |");
                for m in 0..case.metrics.len() {
                    let values: Vec<f64> = samples.iter().map(|s| s[m]).collect();
                    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let med = median(values).unwrap_or(f64::NAN);
                    let _ = write!(
                        row,
                        " {} ({}–{}) |",
                        fmt_num(med),
                        fmt_num(min),
                        fmt_num(max)
                    );
                }
                if case.samples.len() == 1 || name == ours {
                    row.push_str(" — |");
                } else {
                    let r = case.paired_ratio(ours, name, 0).unwrap_or(f64::NAN);
                    let _ = write!(row, " {}× |", fmt_num(r));
                }
                let _ = writeln!(out, "{row}");
            }
            out.push('\n');
        }
        if !self.checks.is_empty() {
            let _ = writeln!(out, "#### Targets\n");
            let _ = writeln!(
                out,
                "| workload | target | measured | met |\n|---|---|---|---|"
            );
            for c in &self.checks {
                let measured = c
                    .measured
                    .map(|v| format!("{}{}", fmt_num(v), c.unit))
                    .unwrap_or_else(|| "n/a".into());
                let met = match c.met() {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "n/a",
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {measured} | {met} |",
                    c.workload, c.target
                );
            }
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        out
    }

    pub(crate) fn csv(&self) -> String {
        let mut out = String::from("case,contender,metric,rep,value\n");
        for case in &self.cases {
            for (name, samples) in &case.samples {
                for (rep, sample) in samples.iter().enumerate() {
                    for (m, v) in case.metrics.iter().zip(sample) {
                        let _ = writeln!(
                            out,
                            "{},{},{},{rep},{v}",
                            csv_field(&case.title),
                            csv_field(name),
                            csv_field(m.name)
                        );
                    }
                }
            }
        }
        for c in &self.checks {
            if let Some(v) = c.measured {
                let _ = writeln!(
                    out,
                    "{},{},target ratio (bound {}),median,{v}",
                    csv_field(&c.workload),
                    csv_field(&c.target),
                    c.bound
                );
            }
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BenchArgs;

    #[test]
    fn median_and_paired_ratio() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        let case = CaseResult {
            title: "t".into(),
            metrics: vec![Metric::higher_is_better("x")],
            samples: vec![
                ("a".into(), vec![vec![2.0], vec![9.0], vec![3.0]]),
                ("b".into(), vec![vec![1.0], vec![3.0], vec![3.0]]),
            ],
        };
        assert_eq!(case.paired_ratio("a", "b", 0), Some(2.0));
        let check = Check::ratio(&case, &Target::at_least("a", "b", 0, 1.5));
        assert_eq!(check.met(), Some(true));
        let at_most = Check::ratio(&case, &Target::at_most("a", "b", 0, 1.5));
        assert_eq!(at_most.met(), Some(false));
        assert_eq!(at_most.target, "a ≤ 1.5× b (x)");
        let text = Report {
            cases: vec![case],
            checks: vec![check],
            notes: vec![],
        }
        .markdown(&Plan::from_args(&BenchArgs {
            quick: true,
            csv: None,
            chart: None,
            reps: None,
            only: vec![],
            messages: None,
            bulk: None,
            max_write_size: None,
            high_water: None,
            contender: None,
        }));
        assert!(text.contains("| b | 3.00 (1.00–3.00) | 2.00× |"), "{text}");
        assert!(text.contains("| yes |"), "{text}");
    }
}
