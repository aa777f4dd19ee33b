//! Times in the stack file: durations (`90s`, `15m`, `1h30m`, or seconds) and RDS windows.
//!
//! A daily window is `hh:mm-hh:mm` (UTC, may wrap past midnight); a weekly one is
//! `ddd:hh:mm-ddd:hh:mm`. RDS wants each at least 30 minutes long, and a maintenance window
//! that never overlaps the daily backup window; [`overlaps`] checks every day of the week.

use crate::diagnostic::Span;
use crate::reader::{type_error, Ctx, Val};
use crate::yaml::{Kind, Node};

/// Longest accepted wait: a day.
pub const MAX_DURATION: u64 = 24 * 3600;
const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `1h30m`, `90s`, `15m`, `2h` or `900` into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = usize::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = ["h", "m", "s"].iter().position(|u| u.starts_with(c))?;
        if digits.is_empty() || (last_unit != usize::MAX && unit <= last_unit) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul([3600, 60, 1][unit])?)?;
        digits.clear();
        last_unit = unit;
    }
    (digits.is_empty() && last_unit != usize::MAX).then_some(total)
}

/// A duration value: a whole number of seconds or a string like `15m`.
pub fn duration(cx: &mut Ctx, node: &Node, what: &str) -> Val<u64> {
    let seconds = match &node.kind {
        Kind::Int(n) => u64::try_from(*n).ok(),
        Kind::Str(s) => match parse_duration(s) {
            Some(n) => Some(n),
            None => {
                let message = format!("invalid duration `{s}` for {what}");
                cx.error(node.span, message, "expected a duration like `90s`, `15m`, `1h30m`, or seconds");
                return Val::Bad;
            }
        },
        _ => {
            type_error(cx, node, what, "a duration like `15m`");
            return Val::Bad;
        }
    };
    match seconds {
        Some(n) if (1..=MAX_DURATION).contains(&n) => Val::Got(n, node.span),
        _ => {
            cx.error(node.span, format!("out-of-range value for {what}"), "expected 1s to 24h");
            Val::Bad
        }
    }
}

fn hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.chars().chain(m.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// `hh:mm-hh:mm` → (start, length) in minutes of the day.
pub fn daily_window(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let (start, end) = (hhmm(a)?, hhmm(b)?);
    Some((start, (end + DAY - start) % DAY))
}

/// `ddd:hh:mm-ddd:hh:mm` → (start, length) in minutes of the week (Monday 00:00 is 0).
pub fn weekly_window(text: &str) -> Option<(u32, u32)> {
    let point = |s: &str| -> Option<u32> {
        let (day, time) = s.split_at_checked(3)?;
        let day = DAYS.iter().position(|d| d.eq_ignore_ascii_case(day))? as u32;
        Some(day * DAY + hhmm(time.strip_prefix(':')?)?)
    };
    let (a, b) = text.split_once('-')?;
    let (start, end) = (point(a)?, point(b)?);
    Some((start, (end + WEEK - start) % WEEK))
}

/// True when the weekly window (start, len) meets the daily window (start, len) on any day.
pub fn overlaps(weekly: (u32, u32), daily: (u32, u32)) -> bool {
    (0..7).any(|day| {
        let b = day * DAY + daily.0;
        (b + WEEK - weekly.0) % WEEK < weekly.1 || (weekly.0 + WEEK - b) % WEEK < daily.1
    })
}

/// Reads and checks a window; `weekly` selects the format. Returns (start, length).
pub fn window(cx: &mut Ctx, text: &str, span: Span, what: &str, weekly: bool) -> Option<(u32, u32)> {
    let (parsed, example) = if weekly {
        (weekly_window(text), "`ddd:hh:mm-ddd:hh:mm` in UTC, like `sun:18:00-sun:18:30`")
    } else {
        (daily_window(text), "`hh:mm-hh:mm` in UTC, like `00:00-00:30`")
    };
    match parsed {
        None => {
            cx.error(span, format!("invalid window `{text}` for {what}"), format!("expected {example}"));
            None
        }
        Some((_, len)) if len < 30 => {
            cx.error(
                span,
                format!("window `{text}` for {what} is shorter than 30 minutes"),
                "RDS needs at least 30 minutes",
            );
            None
        }
        Some(w) => Some(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("1h30m5s"), Some(5405));
        assert_eq!(parse_duration("900"), Some(900));
        assert_eq!(parse_duration("30m1h"), None);
        assert_eq!(parse_duration("1h1h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("15"), Some(15));
        assert_eq!(parse_duration("15x"), None);
        assert_eq!(parse_duration("1m30"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn windows() {
        assert_eq!(daily_window("00:00-00:30"), Some((0, 30)));
        assert_eq!(daily_window("23:45-00:15"), Some((1425, 30)));
        assert_eq!(daily_window("24:00-00:30"), None);
        assert_eq!(daily_window("0:00-00:30"), None);
        assert_eq!(weekly_window("sun:18:00-sun:18:30"), Some((6 * DAY + 1080, 30)));
        assert_eq!(weekly_window("sun:23:50-mon:00:20"), Some((6 * DAY + 1430, 30)));
        assert_eq!(weekly_window("sun:18:00-18:30"), None);
        let backup = daily_window("00:00-00:30").unwrap();
        assert!(!overlaps(weekly_window("sun:18:00-sun:18:30").unwrap(), backup));
        assert!(overlaps(weekly_window("tue:00:20-tue:00:50").unwrap(), backup));
        assert!(overlaps(weekly_window("sun:23:50-mon:00:20").unwrap(), backup));
        assert!(!overlaps(weekly_window("sun:23:30-mon:00:00").unwrap(), backup));
        assert!(overlaps(weekly_window("wed:23:00-wed:23:40").unwrap(), daily_window("23:30-00:10").unwrap()));
    }
}
