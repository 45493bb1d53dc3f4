//! Progress of long commands (`seed`, `project rebuild`) on stderr: one line rewritten in
//! place on a terminal (every 100 ms), plain lines every 2 s otherwise (logs, CI), with the
//! rate and, when the total is known, the share done and the time left. The first step is
//! always shown, so the total is on screen at once.

use std::{
    io::{IsTerminal as _, Write as _},
    time::{Duration, Instant},
};

pub struct Progress {
    label: &'static str,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    shown: Option<Instant>,
    terminal: bool,
}

impl Progress {
    pub fn new(label: &'static str, unit: &'static str, total: Option<u64>) -> Self {
        Self {
            label,
            unit,
            total,
            done: 0,
            started: Instant::now(),
            shown: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Counts `n` more, and shows the line when it is time to.
    pub fn add(&mut self, n: u64, what: &str) {
        self.done += n;
        let every = if self.terminal { Duration::from_millis(100) } else { Duration::from_secs(2) };
        if self.shown.is_none_or(|at| at.elapsed() >= every) {
            self.shown = Some(Instant::now());
            let line = self.line(what);
            let mut err = std::io::stderr().lock();
            let _ = if self.terminal { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
        }
    }

    /// The last line: what was done, in how long, at what rate.
    pub fn finish(self) {
        let secs = self.started.elapsed().as_secs_f64();
        let line = format!(
            "{}: {} {} in {secs:.1} s ({} {}/s)",
            self.label,
            thousands(self.done),
            self.unit,
            thousands((self.done as f64 / secs.max(1e-6)) as u64),
            self.unit
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal { writeln!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
    }

    fn line(&self, what: &str) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-6);
        let rate = self.done as f64 / secs;
        let mut line = format!("{}: {}", self.label, thousands(self.done));
        if let Some(total) = self.total.filter(|t| *t > 0) {
            let left = total.saturating_sub(self.done) as f64 / rate.max(1e-6);
            line += &format!(
                " / {} {} ({:.0}%), ETA {left:.0} s",
                thousands(total),
                self.unit,
                (100.0 * self.done as f64 / total as f64).min(100.0)
            );
        } else {
            line += &format!(" {}", self.unit);
        }
        line + &format!(", {} {}/s · {what}", thousands(rate as u64), self.unit)
    }
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_rate_share_and_time_left() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        let mut p = Progress::new("seed", "rows", Some(1_000));
        p.done = 250;
        let line = p.line("users");
        assert!(line.starts_with("seed: 250 / 1,000 rows (25%), ETA "), "{line}");
        assert!(line.ends_with("rows/s · users"), "{line}");
    }
}
