//! CSV for COPY, cut into chunks of about 1 MiB (progress is shown per chunk).

use std::fmt;

use chrono::{DateTime, Utc};

/// A table's CSV chunks and the rows in each.
pub(super) type Chunks = Vec<(Vec<u8>, u64)>;

/// CSV for COPY, cut into chunks of about 1 MiB (progress is shown per chunk).
#[derive(Default)]
pub(super) struct Csv {
    /// Chunks and the rows in each.
    chunks: Chunks,
    buf: Vec<u8>,
    rows: u64,
    first: bool,
}

impl Csv {
    pub(super) fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        self.buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                self.buf.push(b'"');
            }
            self.buf.push(b);
        }
        self.buf.push(b'"');
        self
    }

    pub(super) fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.raw(""),
        }
    }

    pub(super) fn raw(&mut self, s: impl fmt::Display) -> &mut Self {
        self.sep();
        use std::io::Write;
        let _ = write!(self.buf, "{s}");
        self
    }

    pub(super) fn time(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.raw(t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
    }

    pub(super) fn opt_time(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        match t {
            Some(t) => self.time(t),
            None => self.raw(""),
        }
    }

    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.buf.push(b',');
        }
    }

    pub(super) fn row(&mut self) {
        self.buf.push(b'\n');
        self.first = true;
        self.rows += 1;
        if self.buf.len() >= 1 << 20 {
            self.chunks.push((std::mem::take(&mut self.buf), std::mem::take(&mut self.rows)));
        }
    }

    pub(super) fn start() -> Self {
        Self { first: true, ..Self::default() }
    }

    pub(super) fn finish(mut self) -> Chunks {
        if !self.buf.is_empty() {
            self.chunks.push((self.buf, self.rows));
        }
        self.chunks
    }
}
