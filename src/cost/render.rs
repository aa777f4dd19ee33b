//! An estimate as text for a terminal, as Markdown for a pull request, and as JSON.
//! Short: one line per cost item (what, quantity, unit price, monthly), the total, the
//! change when known, what is usage-driven, then the label with the price date.

use super::{Estimate, Line, Range};
use serde_json::{json, Value};

/// `$12.34`, `-$0.50`.
pub fn money(v: f64) -> String {
    let v = if v.abs() < 0.005 { 0.0 } else { v };
    if v < 0.0 {
        format!("-${:.2}", -v)
    } else {
        format!("${v:.2}")
    }
}

/// `+$1.00`, `-$1.00`, `$0.00`.
fn signed(v: f64) -> String {
    if v >= 0.005 {
        format!("+{}", money(v))
    } else {
        money(v)
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// A range of amounts: `$10.51` when the columns agree, else `$10.51..$42.05 (desired $10.51)`.
fn amounts(r: Range, f: fn(f64) -> String) -> String {
    if r.min == r.desired && r.desired == r.max {
        f(r.desired)
    } else {
        format!("{}..{} (desired {})", f(r.min), f(r.max), f(r.desired))
    }
}

/// The quantity of a line: `1..4 instances (desired 1)`, `20 GB`.
pub fn quantity(l: &Line) -> String {
    let q = l.quantity;
    if q.min == q.desired && q.desired == q.max {
        let unit = match (q.desired == 1.0, l.quantity_unit) {
            (true, "instances") => "instance",
            (true, "addresses") => "address",
            (true, "alarms") => "alarm",
            (_, unit) => unit,
        };
        format!("{} {unit}", num(q.desired))
    } else {
        format!("{}..{} {} (desired {})", num(q.min), num(q.max), l.quantity_unit, num(q.desired))
    }
}

/// A unit price as the table gives it, with at least cents: `$0.0144`, `$0.40`, `$3.00`.
fn price(p: f64, unit: &str, confirmed: bool) -> String {
    let mut s = format!("{p}");
    match s.split_once('.').map(|(_, frac)| frac.len()) {
        None => s.push_str(".00"),
        Some(1) => s.push('0'),
        Some(_) => {}
    }
    format!("${s}/{unit}{}", if confirmed { "" } else { "*" })
}

fn unit_price(l: &Line) -> String {
    price(l.unit_price, &l.price_unit, l.confirmed)
}

impl Estimate {
    /// The label: an estimate, from which table and of which date.
    fn label_text(&self) -> String {
        match &self.label {
            Some(l) => format!(
                "Estimate, not a bill: AWS Price List, {}, prices of {} ({}, on-demand, {} hours a month), from {}",
                l.region, l.prices_of, l.currency, l.hours_per_month, l.origin
            ),
            None => format!("No estimate: {}", self.problem.as_deref().unwrap_or("no price table")),
        }
    }

    fn footnote(&self) -> Option<String> {
        let l = self.label.as_ref()?;
        let marked = self.lines.iter().any(|x| !x.confirmed)
            || self.usage_driven.iter().any(|u| u.unit_price.as_ref().is_some_and(|p| !p.2));
        marked.then(|| {
            format!(
                "* price not confirmed against AWS's published prices ({} of the table's entries); refresh: {}",
                l.unconfirmed_entries, l.refresh
            )
        })
    }

    fn delta_text(&self) -> Option<String> {
        let d = self.delta?;
        Some(if d.min == d.desired && d.desired == d.max {
            format!("{} a month", signed(d.desired))
        } else {
            format!("{}..{} a month (desired {})", signed(d.min), signed(d.max), signed(d.desired))
        })
    }

    fn usage_lines(&self) -> Vec<String> {
        self.usage_driven
            .iter()
            .map(|u| {
                let at = match &u.unit_price {
                    Some((p, unit, confirmed)) => format!("; {}", price(*p, unit, *confirmed)),
                    None => String::new(),
                };
                format!("{}: {}{at}", u.what, u.driver)
            })
            .collect()
    }

    /// For a terminal.
    pub fn human(&self) -> String {
        let mut out = format!("Monthly cost of {}\n", self.stack);
        if self.label.is_none() {
            out.push_str(&format!("  {}\n", self.label_text()));
            return out;
        }
        let rows: Vec<[String; 4]> = self
            .lines
            .iter()
            .map(|l| [l.what.clone(), quantity(l), unit_price(l), amounts(l.monthly, money)])
            .collect();
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for r in &rows {
            out.push_str(&format!("  {:w0$}  {:w1$}  {:w2$}  {}\n", r[0], r[1], r[2], r[3]));
        }
        let partial = if self.unpriced.is_empty() { "" } else { " (without the items not priced below)" };
        out.push_str(&format!("  total: {}{partial}\n", amounts(self.total, money)));
        if let Some(d) = self.delta_text() {
            out.push_str(&format!("  change: {d}\n"));
            for c in &self.changes {
                let what = match (&c.before, &c.after) {
                    (Some(b), Some(a)) if a != b => format!("{b} → {a}"),
                    (Some(b), None) => format!("{b} → gone"),
                    (None, Some(a)) => format!("new: {a}"),
                    (Some(b), Some(_)) => b.clone(),
                    (None, None) => String::new(),
                };
                out.push_str(&format!("    {what}: {}\n", amounts(c.delta, signed)));
            }
        } else if let Some(p) = &self.problem {
            out.push_str(&format!("  {p}\n"));
        }
        if !self.unpriced.is_empty() {
            out.push_str("Not priced (no entry in the price table):\n");
            for u in &self.unpriced {
                out.push_str(&format!("  - {} ({})\n", u.what, u.key));
            }
        }
        out.push_str("Usage-driven, not estimated:\n");
        for u in self.usage_lines() {
            out.push_str(&format!("  - {u}\n"));
        }
        out.push_str(&self.label_text());
        out.push('\n');
        if let Some(f) = self.footnote() {
            out.push_str(&f);
            out.push('\n');
        }
        out
    }

    /// For a pull request comment.
    pub fn markdown(&self) -> String {
        let mut out = format!("#### Monthly cost of `{}`\n\n", self.stack);
        if self.label.is_none() {
            out.push_str(&format!("{}\n", self.label_text()));
            return out;
        }
        out.push_str("| Item | Quantity | Unit price | Monthly |\n| --- | --- | --- | --- |\n");
        for l in &self.lines {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                l.what,
                quantity(l),
                unit_price(l).replace('*', "\\*"),
                amounts(l.monthly, money)
            ));
        }
        out.push_str(&format!("| **Total** | | | **{}** |\n", amounts(self.total, money)));
        if let Some(d) = self.delta_text() {
            out.push_str(&format!("\n**Change: {d}**\n"));
            for c in &self.changes {
                let what = match (&c.before, &c.after) {
                    (Some(b), Some(a)) if a != b => format!("{b} → {a}"),
                    (Some(b), None) => format!("{b} → gone"),
                    (None, Some(a)) => format!("new: {a}"),
                    (Some(b), Some(_)) => b.clone(),
                    (None, None) => String::new(),
                };
                out.push_str(&format!("- {what}: {}\n", amounts(c.delta, signed)));
            }
        } else if let Some(p) = &self.problem {
            out.push_str(&format!("\n{p}\n"));
        }
        if !self.unpriced.is_empty() {
            out.push_str("\nNot priced (no entry in the price table), left out of the total:\n");
            for u in &self.unpriced {
                out.push_str(&format!("- {} (`{}`)\n", u.what, u.key));
            }
        }
        out.push_str("\nUsage-driven, not estimated:\n");
        for u in self.usage_lines() {
            out.push_str(&format!("- {}\n", u.replace('*', "\\*")));
        }
        out.push_str(&format!("\n_{}_\n", self.label_text()));
        if let Some(f) = self.footnote() {
            out.push_str(&format!("\n<sub>{}</sub>\n", f.replacen('*', "\\*", 1)));
        }
        out
    }

    /// For `--json` and tools.
    pub fn json(&self) -> Value {
        let range = |r: Range| json!({"min": r.min, "desired": r.desired, "max": r.max});
        json!({
            "stack": self.stack,
            "region": self.region,
            "estimate": self.label.as_ref().map(|l| json!({
                "source": "AWS Price List",
                "region": l.region,
                "location": l.location,
                "currency": l.currency,
                "prices_of": l.prices_of,
                "table_source": l.source,
                "refresh": l.refresh,
                "hours_per_month": l.hours_per_month,
                "unconfirmed_entries": l.unconfirmed_entries,
                "origin": l.origin,
            })),
            "lines": self.lines.iter().map(|l| json!({
                "item": l.item,
                "what": l.what,
                "quantity": range(l.quantity),
                "quantity_unit": l.quantity_unit,
                "price_key": l.key,
                "unit_price": l.unit_price,
                "price_unit": l.price_unit,
                "confirmed": l.confirmed,
                "monthly": range(l.monthly),
                "note": l.note,
            })).collect::<Vec<_>>(),
            "total": range(self.total),
            "before_total": self.before_total.map(range),
            "delta": self.delta.map(range),
            "changes": self.changes.iter().map(|c| json!({
                "item": c.item, "before": c.before, "after": c.after, "delta": range(c.delta),
            })).collect::<Vec<_>>(),
            "unpriced": self.unpriced.iter().map(|u| json!({"item": u.item, "what": u.what, "price_key": u.key}))
                .collect::<Vec<_>>(),
            "usage_driven": self.usage_driven.iter().map(|u| json!({
                "what": u.what,
                "driver": u.driver,
                "unit_price": u.unit_price.as_ref().map(|(p, unit, confirmed)|
                    json!({"price": p, "unit": unit, "confirmed": confirmed})),
            })).collect::<Vec<_>>(),
            "problem": self.problem,
        })
    }
}
