//! The plan as people read it in a terminal or a pull request, without colour if need be.

use super::Style;
use crate::plan::drift::TAG_APPLIED;
use crate::plan::{Action, AttrChange, Plan, Reason, ResourceChange};
use serde_json::Value;
use std::fmt::Write;

/// Render a plan. `file` is the stack file's path as the user gave it.
pub fn plan(p: &Plan, file: &str, style: Style) -> String {
    let mut out = String::new();
    if !p.not_managed.is_empty() {
        let _ = writeln!(
            out,
            "Not managed yet by bumarket-infra {}: {} (these sections are checked but not applied).\n",
            p.tool_version,
            p.not_managed.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        );
    }
    if !p.uses.is_empty() {
        let _ = writeln!(out, "Uses, never changes (`existing:`):");
        let width = p.uses.iter().map(|u| u.key.len()).max().unwrap_or(0);
        for u in &p.uses {
            let _ = writeln!(out, "  {:width$}  {}", u.key, u.detail);
        }
        out.push('\n');
    }
    if !p.has_changes() {
        let _ = writeln!(out, "No changes. Live AWS matches {file} ({}).", count(p.resources.len(), "resource"));
        notices(&mut out, p);
        return out;
    }
    let width = p.actions().map(|r| r.addr.as_str().len()).max().unwrap_or(0).max(20);
    for r in p.actions() {
        resource(&mut out, r, file, width, style);
    }
    let _ = writeln!(out, "\nPlan: {}.", summary_line(p));
    notices(&mut out, p);
    out
}

/// `2 to adopt, 1 to add, 0 to change, 0 to destroy`: adoptions and releases only when
/// there are some, so a plan without them reads as it always has.
pub fn summary_line(p: &Plan) -> String {
    let s = p.summary();
    let mut parts = Vec::new();
    if s.adopt > 0 {
        parts.push(format!("{} to adopt", s.adopt));
    }
    if s.release > 0 {
        parts.push(format!("{} to release", s.release));
    }
    parts.push(format!("{} to add, {} to change, {} to destroy", s.add, s.change, s.destroy));
    parts.join(", ")
}

/// What needs the user, though it is no change: one `Note:` line each.
fn notices(out: &mut String, p: &Plan) {
    for n in &p.notices {
        let _ = writeln!(out, "Note: {n}");
    }
}

/// `1 resource`, `3 resources`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn color_of(a: Action) -> &'static str {
    match a {
        Action::Create => "32",
        Action::Update => "33",
        Action::Replace => "35",
        Action::Delete => "31",
        Action::Adopt => "36",
        Action::Release => "34",
        Action::NoOp => "0",
    }
}

fn resource(out: &mut String, r: &ResourceChange, file: &str, width: usize, style: Style) {
    let sign = style.paint(color_of(r.action), &format!("{:>3}", r.action.symbol()));
    let why = match (&r.reason, r.action) {
        (Some(Reason::RemovedFromFile), _) => format!("(no longer in {file})"),
        (Some(Reason::Duplicate), _) => "(duplicate copy of this resource)".to_string(),
        (_, Action::Replace) => {
            let forced: Vec<String> = r.forced_by().map(|f| format!("`{f}`")).collect();
            format!("(replaced: {} cannot change in place)", forced.join(", "))
        }
        (_, Action::Update) if r.all_drift() => format!("({DRIFT})"),
        (_, Action::Adopt) => {
            let id = r.observed.as_ref().map(|o| o.id.as_str()).filter(|id| *id != r.name);
            let id = id.map(|id| format!(" {id}")).unwrap_or_default();
            format!("(adopted{id}: made outside bumarket-infra, kept as it runs)")
        }
        (_, Action::Release) => "(released: no longer the stack's, keeps running)".to_string(),
        _ => String::new(),
    };
    let mut line = format!("{sign} {:<width$}  {}", r.addr.as_str(), r.name);
    if !why.is_empty() {
        line.push_str("   ");
        line.push_str(&why);
    }
    for n in &r.notes {
        let _ = write!(line, "   ({n})");
    }
    let _ = writeln!(out, "{}", line.trim_end());
    let lines: Vec<Line> = r.shown_changes().flat_map(attribute_lines).collect();
    let width = lines.iter().map(|l| l.path.len()).max().unwrap_or(0);
    let text_width = lines.iter().filter(|l| l.drift).map(|l| l.text.chars().count()).max().unwrap_or(0);
    for l in lines {
        let sign = style.paint(if l.sign == "-" { "31" } else { "33" }, l.sign);
        let mut text = format!("      {sign} {:<width$}   {}", l.path, l.text);
        if l.forces {
            text.push_str("   (forces replacement)");
        }
        if l.drift {
            let pad = text_width - l.text.chars().count();
            let _ = write!(text, "{:pad$}   ({DRIFT})", "");
        }
        let _ = writeln!(out, "{text}");
    }
}

/// What a drifted attribute's line (and a resource line, when all its changes are drift)
/// says.
pub const DRIFT: &str = "drift: changed outside bumarket-infra";

/// One line of an attribute change.
struct Line {
    sign: &'static str,
    path: String,
    text: String,
    forces: bool,
    drift: bool,
}

/// One line per differing leaf of an attribute. The applied record is never a line.
fn attribute_lines(c: &AttrChange) -> Vec<Line> {
    let mut leaves = Vec::new();
    if c.sensitive {
        let hidden = Some(Value::String("(sensitive)".into()));
        leaves.push((c.name.clone(), hidden.clone(), hidden));
    } else {
        diff(&c.name, c.before.as_ref(), c.after.as_ref(), &mut leaves);
    }
    let record = format!("tags.{TAG_APPLIED}");
    leaves
        .into_iter()
        .filter(|(path, _, _)| *path != record)
        .filter_map(|(path, before, after)| {
            let (sign, text) = match (before, after) {
                (None, Some(a)) => ("+", short(&a)),
                (Some(b), None) => ("-", short(&b)),
                (Some(b), Some(a)) => ("~", format!("{} -> {}", short(&b), short(&a))),
                (None, None) => return None,
            };
            Some(Line { sign, path, text, forces: c.forces_replacement, drift: c.drift })
        })
        .collect()
}

type Leaf = (String, Option<Value>, Option<Value>);

/// Leaf-level differences between two JSON values, with paths like `lifecycle[0].days`.
pub fn diff(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Leaf>) {
    let before = before.filter(|v| !v.is_null());
    let after = after.filter(|v| !v.is_null());
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff(&format!("{path}.{k}"), b.get(k), a.get(k), out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) if a.len() == b.len() => {
            for (i, (x, y)) in b.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        (b, a) if b != a => out.push((path.to_string(), b.cloned(), a.cloned())),
        _ => {}
    }
}

/// A value on one line, cut when very long.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(117).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
