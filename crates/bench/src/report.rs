//! The result table: one row per figure, printed and written as JSON.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

/// What a figure counts; says which direction is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Rows written per second (higher is better).
    RowsPerSec,
    /// Workflow life cycles per second (higher is better).
    WorkflowsPerSec,
    /// 99th-percentile latency in milliseconds (lower is better).
    P99Millis,
    /// Wall-clock seconds (lower is better).
    Seconds,
    /// Bytes of WAL written (lower is better).
    WalBytes,
    /// Events consumed and persisted per second (higher is better).
    EventsPerSec,
    /// A count of events, e.g. read twice (lower is better).
    Events,
}

impl Unit {
    fn higher_is_better(self) -> bool {
        matches!(
            self,
            Self::RowsPerSec | Self::WorkflowsPerSec | Self::EventsPerSec
        )
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::RowsPerSec => "rows/s",
            Self::WorkflowsPerSec => "wf/s",
            Self::P99Millis => "ms p99",
            Self::Seconds => "s",
            Self::WalBytes => "B WAL",
            Self::EventsPerSec => "events/s",
            Self::Events => "events",
        }
    }
}

/// What a row must reach to pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// Ratio to the limit at least this.
    MinRatio {
        /// The smallest passing ratio.
        ratio: f64,
    },
    /// p99 under this many milliseconds and no sequential scan in the plan.
    IndexScanUnder {
        /// The largest passing p99.
        millis: f64,
    },
    /// Ours at most this value, in the row's unit.
    AtMost {
        /// The largest passing figure.
        value: f64,
    },
    /// Ours below this value, in the row's unit.
    Under {
        /// The largest passing figure.
        value: f64,
    },
    /// p99 under this many milliseconds.
    UnderMillis {
        /// The largest passing p99.
        millis: f64,
    },
    /// No target: the figure is informational.
    None,
}

impl Target {
    fn describe(self) -> String {
        match self {
            Self::MinRatio { ratio } => format!(">= {ratio:.2}x"),
            Self::IndexScanUnder { millis } => format!("idx, < {millis} ms"),
            Self::AtMost { value } => format!("<= {value:.0}"),
            Self::Under { value } => format!("< {value:.0}"),
            Self::UnderMillis { millis } => format!("< {millis} ms"),
            Self::None => "-".to_owned(),
        }
    }
}

/// Whether a row reached its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The target is met.
    Pass,
    /// The target is missed.
    Short,
    /// No target applies.
    Info,
    /// The case could not run (a tool is missing); see the note.
    Skipped,
    /// The case failed; see the note.
    Error,
}

/// One figure of ours beside the limit's.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Case number and what is measured, e.g. `1 single append, 8 tasks`.
    pub case: String,
    /// Unit of both figures.
    pub unit: Unit,
    /// Our figure, through the models crate.
    pub ours: Option<f64>,
    /// What the limit is, e.g. `pgbench -M prepared -c 8`.
    pub limit_name: String,
    /// The limit's figure from the same run.
    pub limit: Option<f64>,
    /// Ours relative to the limit as a speed: above 1 means faster than the limit.
    pub ratio: Option<f64>,
    /// What the row must reach.
    pub target: Target,
    /// Whether it did.
    pub mark: Mark,
    /// Extra facts: p50, plan problems, why a case was skipped.
    pub note: String,
}

impl Row {
    /// A measured row; ratio and mark follow from the figures.
    pub fn measured(
        case: impl Into<String>,
        unit: Unit,
        ours: f64,
        limit_name: impl Into<String>,
        limit: f64,
        target: Target,
    ) -> Self {
        let ratio = if unit.higher_is_better() {
            ours / limit
        } else {
            limit / ours
        };
        let mark = match target {
            Target::MinRatio { ratio: min } if ratio >= min => Mark::Pass,
            Target::MinRatio { .. } => Mark::Short,
            Target::IndexScanUnder { millis } if ours < millis => Mark::Pass,
            Target::IndexScanUnder { .. } => Mark::Short,
            Target::AtMost { value } if ours <= value => Mark::Pass,
            Target::AtMost { .. } => Mark::Short,
            Target::Under { value } if ours < value => Mark::Pass,
            Target::Under { .. } => Mark::Short,
            Target::UnderMillis { millis } if ours < millis => Mark::Pass,
            Target::UnderMillis { .. } => Mark::Short,
            Target::None => Mark::Info,
        };
        Self {
            case: case.into(),
            unit,
            ours: Some(ours),
            limit_name: limit_name.into(),
            limit: Some(limit),
            ratio: ratio.is_finite().then_some(ratio),
            target,
            mark,
            note: String::new(),
        }
    }

    /// A row that could not be measured.
    pub fn failed(
        case: impl Into<String>,
        unit: Unit,
        mark: Mark,
        note: impl Into<String>,
    ) -> Self {
        Self {
            case: case.into(),
            unit,
            ours: None,
            limit_name: String::new(),
            limit: None,
            ratio: None,
            target: Target::None,
            mark,
            note: note.into(),
        }
    }

    /// The same row with `note` appended.
    pub fn with_note(mut self, note: impl AsRef<str>) -> Self {
        if !self.note.is_empty() {
            self.note.push_str("; ");
        }
        self.note.push_str(note.as_ref());
        self
    }

    /// The same row marked short with a reason, e.g. a sequential scan.
    pub fn short_because(mut self, why: &str) -> Self {
        if self.mark == Mark::Pass {
            self.mark = Mark::Short;
        }
        self.with_note(why)
    }
}

/// Everything one run produced.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Whether this was a `--quick` run (timings not meaningful).
    pub quick: bool,
    /// The machine and server the figures come from.
    pub machine: String,
    /// The pool settings our side ran with.
    pub pool: String,
    /// The table.
    pub rows: Vec<Row>,
    /// The EXPLAIN plans of case 4.
    pub plans: Vec<Plan>,
}

/// The plan of one case-4 query.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The models-crate call.
    pub query: String,
    /// The SQL it sent, bind values in line.
    pub sql: String,
    /// `EXPLAIN` output.
    pub plan: String,
    /// Whether the plan holds a `Seq Scan`.
    pub seq_scan: bool,
}

fn figure(value: Option<f64>, unit: Unit) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if unit == Unit::P99Millis => format!("{v:.3} {}", unit.suffix()),
        Some(v) if unit == Unit::Seconds => format!("{v:.3} {}", unit.suffix()),
        Some(v) if unit == Unit::WalBytes && v >= 1e6 => format!("{:.1} MB WAL", v / 1e6),
        Some(v) if unit == Unit::WalBytes => format!("{:.0} kB WAL", v / 1e3),
        Some(v) => format!("{v:.0} {}", unit.suffix()),
    }
}

impl Report {
    /// The table as fixed-width text.
    pub fn table(&self) -> String {
        let header = [
            "case",
            "ours",
            "limit",
            "limit figure",
            "ratio",
            "target",
            "mark",
            "note",
        ];
        let cells: Vec<[String; 8]> = self
            .rows
            .iter()
            .map(|row| {
                [
                    row.case.clone(),
                    figure(row.ours, row.unit),
                    row.limit_name.clone(),
                    figure(row.limit, row.unit),
                    row.ratio.map_or("-".to_owned(), |r| format!("{r:.2}x")),
                    row.target.describe(),
                    format!("{:?}", row.mark).to_lowercase(),
                    row.note.clone(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let mut text = String::new();
            for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
                let pad = width - cell.chars().count();
                // Figures right-aligned, words left-aligned.
                if matches!(i, 1 | 3 | 4) {
                    let _ = write!(text, "| {}{cell} ", " ".repeat(pad));
                } else {
                    let _ = write!(text, "| {cell}{} ", " ".repeat(pad));
                }
            }
            let _ = writeln!(out, "{}|", text.trim_end_matches(' ').to_owned() + " ");
        };
        line(&mut out, &header.map(str::to_owned));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &rule);
        for row in &cells {
            line(&mut out, row);
        }
        out
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_string_pretty(self).expect("the report serialises");
        std::fs::write(path, json + "\n")
    }
}
