//! Medians, percentiles and Markdown tables.

/// The median of `samples` (NaN when empty). NaN samples (failed runs) are left out.
pub fn median(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The `q`-quantile (0.0–1.0, nearest rank) of sorted `v`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A whole number with thousands separators: 31,250.
pub fn thousands(x: f64) -> String {
    if x.is_nan() {
        return "n/a".into();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

pub fn runs(samples: &[f64], fmt: impl Fn(f64) -> String) -> String {
    samples
        .iter()
        .map(|x| fmt(*x))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub fn ratio(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{x:.2}")
    }
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**not met**"
    }
}

/// A Markdown table, printed to stdout.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let line = |cells: &[String]| format!("| {} |", cells.join(" | "));
        println!("{}", line(&self.header));
        println!(
            "|{}|",
            self.header
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            println!("{}", line(row));
        }
        println!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(thousands(31250.4), "31,250");
        assert_eq!(thousands(999.0), "999");
    }
}

/// The runs of one contender: throughput and CPU per record of each.
#[derive(Default)]
pub struct Runs {
    pub rate: Vec<f64>,
    pub client_us: Vec<f64>,
    pub broker_us: Vec<f64>,
}

/// Columns of a contender table.
pub const CONTENDER_COLUMNS: [&str; 6] = [
    "contender",
    "median records/s",
    "runs",
    "client CPU µs/record",
    "broker CPU µs/record",
    "Rebound/baseline",
];

impl Runs {
    pub fn push(&mut self, rate: f64, cpu: (f64, f64)) {
        self.rate.push(rate);
        self.client_us.push(cpu.0);
        self.broker_us.push(cpu.1);
    }

    pub fn median(&self) -> f64 {
        median(&self.rate)
    }

    pub fn row(&self, label: &str, ratio: String) -> Vec<String> {
        let us = |v: &[f64]| {
            let m = median(v);
            if m.is_nan() {
                "n/a".to_string()
            } else {
                format!("{m:.2}")
            }
        };
        vec![
            label.to_string(),
            thousands(self.median()),
            runs(&self.rate, thousands),
            us(&self.client_us),
            us(&self.broker_us),
            ratio,
        ]
    }
}
