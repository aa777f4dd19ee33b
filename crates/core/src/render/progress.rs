//! Apply's progress on stderr, one line per event (a step started, said what it waits
//! for, finished with its time, failed, was skipped): on a terminal with coloured marks,
//! elsewhere (CI) after a UTC timestamp. A failure's hint is not repeated here: the
//! summary at the end prints each error with its `= help:` line.

use super::Style;
use crate::apply::{Event, Reporter};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Lines {
    pub style: Style,
    pub timestamps: bool,
}

impl Lines {
    /// The line of one event, as [`Lines`] prints it.
    pub fn line(&self, e: Event) -> String {
        let line = match e {
            Event::Started { addr, kind } => format!("  - {addr:<28} {}", kind.doing_word()),
            Event::Progress { addr, message } => format!("  . {addr:<28} {message}"),
            Event::Finished { addr, kind, elapsed } => format!(
                "  {} {addr:<28} {:<10} {:.1} s",
                self.style.paint("32", "✓"),
                kind.done_word(),
                elapsed.as_secs_f64()
            ),
            Event::Failed { addr, kind, error } => {
                format!("  {} {addr:<28} {} failed: {error}", self.style.paint("31", "✗"), kind.doing_word())
            }
            Event::Skipped { addr, because } => {
                format!("  - {addr:<28} skipped: it depends on `{because}`, which failed")
            }
        };
        if self.timestamps {
            format!("{} {}", utc_now(), line.trim_start())
        } else {
            line
        }
    }
}

impl Reporter for Lines {
    fn event(&self, e: Event) {
        let line = self.line(e);
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` now.
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
