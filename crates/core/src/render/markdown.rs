//! The plan as a pull-request comment (GitHub-flavoured Markdown), risk first: what
//! loses data (replacements and deletions of resources that hold it, with the attribute
//! that forces each), then what can interrupt traffic, then the ordinary changes, then
//! the changes of tags only, folded; the counts; and the attribute changes of each
//! resource in a collapsible block. It never exceeds the size the caller gives
//! (`max_bytes`; GitHub refuses a comment over 65,536 characters): when it must shorten,
//! it leaves out detail first, then the lines of lesser changes (counted, never silently),
//! and never a deletion or replacement line.

use super::human::{diff, summary_line, DRIFT};
use crate::plan::drift::TAG_APPLIED;
use crate::plan::{Action, AttrChange, Plan, Reason, ResourceChange};
use serde_json::Value;
use std::fmt::Write;

/// GitHub's limit for a comment is 65,536 characters; this leaves room for a workflow's
/// own words around the plan.
pub const DEFAULT_MAX_BYTES: usize = 60_000;

/// The groups of a plan, in the order a reviewer reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// Replaced or deleted, holding data.
    Data,
    /// On the request path.
    Traffic,
    Ordinary,
    /// Only tags change.
    TagsOnly,
}

impl Group {
    fn heading(self) -> &'static str {
        match self {
            Group::Data => "Data at risk: replaced or deleted",
            Group::Traffic => "Can interrupt traffic",
            Group::Ordinary => "Other changes",
            Group::TagsOnly => "Tags only",
        }
    }
}

fn group(r: &ResourceChange) -> Group {
    let kind = r.addr.kind();
    let destroys = matches!(r.action, Action::Replace | Action::Delete);
    if destroys && kind.holds_data() {
        Group::Data
    } else if kind.carries_traffic() {
        Group::Traffic
    } else if r.action == Action::Update && tags_only(r) {
        Group::TagsOnly
    } else {
        Group::Ordinary
    }
}

/// Every change users see is of a tag map.
fn tags_only(r: &ResourceChange) -> bool {
    let mut shown = r.shown_changes().peekable();
    shown.peek().is_some() && shown.all(|c| c.name == "tags" || c.name.ends_with("_tags"))
}

/// A piece of the comment that may be left out to keep under the limit.
struct Part {
    group: Group,
    /// The resource's line (`true`) or its details block.
    line: bool,
    /// Never left out: a deletion or replacement line.
    kept: bool,
    text: String,
}

/// Whether `text`, written by [`plan`], holds the whole plan (nothing left out to fit).
pub fn is_whole(text: &str) -> bool {
    !text.contains("\n_Shortened to fit ") && !text.contains("\n_Longer than ")
}

/// Render the plan of `title` (the stack, its environment and region) for a pull
/// request, in at most `max_bytes` bytes unless its deletion and replacement lines alone
/// take more (then those, and a word saying so).
pub fn plan(p: &Plan, file: &str, max_bytes: usize) -> String {
    let title = format!("### bumarket-infra plan: `{}` in {}\n\n", p.stack, p.region);
    if !p.has_changes() {
        let mut out = title;
        let _ = writeln!(out, "**No changes.** Live AWS matches `{file}` ({}).", count(p.resources.len(), "resource"));
        notices(&mut out, p);
        return out;
    }
    let mut head = title;
    let s = p.summary();
    let _ = writeln!(head, "**Plan: {}.** {} unchanged.\n", summary_line(p), s.unchanged);
    let mut changes: Vec<&ResourceChange> = p.actions().collect();
    changes.sort_by_key(|r| group(r));
    let at_risk = changes.iter().filter(|r| group(r) == Group::Data).count();
    if at_risk > 0 {
        let _ = writeln!(
            head,
            "> [!CAUTION]\n> {} holding data {} replaced or deleted: what {} is lost.\n",
            count(at_risk, "resource"),
            if at_risk == 1 { "is" } else { "are" },
            if at_risk == 1 { "it holds" } else { "they hold" },
        );
    }
    let mut parts = Vec::new();
    for r in &changes {
        let g = group(r);
        let kept = matches!(r.action, Action::Replace | Action::Delete);
        parts.push(Part { group: g, line: true, kept, text: line(r, file) });
    }
    for r in &changes {
        if let Some(text) = details(r) {
            parts.push(Part { group: group(r), line: false, kept: false, text });
        }
    }
    let mut tail = String::new();
    notices(&mut tail, p);
    if !p.uses.is_empty() {
        let _ = writeln!(tail, "\n<details><summary>Uses, never changes (<code>existing:</code>)</summary>\n");
        for u in &p.uses {
            let _ = writeln!(tail, "- `{}` {}", u.key, escape(&u.detail));
        }
        let _ = writeln!(tail, "\n</details>");
    }
    fit(&head, parts, &tail, max_bytes)
}

/// Choose what fits: the head, the tail and every kept line first, then lines of the
/// riskier groups before lesser ones, then details in the same order; what is left out
/// is counted where it would have been.
fn fit(head: &str, parts: Vec<Part>, tail: &str, max_bytes: usize) -> String {
    // Room for the words that say what was left out: one line per group and one for details.
    const NOTE: usize = 200;
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| (!parts[i].kept, !parts[i].line, parts[i].group, i));
    let mut used = head.len() + tail.len() + 5 * NOTE + 200;
    let mut chosen = vec![false; parts.len()];
    for i in order {
        let size = parts[i].text.len() + 1;
        if parts[i].kept || used + size <= max_bytes {
            chosen[i] = true;
            used += size;
        }
    }
    let mut out = head.to_string();
    let mut shortened = false;
    for g in [Group::Data, Group::Traffic, Group::Ordinary, Group::TagsOnly] {
        let lines: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].line && parts[i].group == g).collect();
        if lines.is_empty() {
            continue;
        }
        let shown: Vec<&Part> = lines.iter().filter(|&&i| chosen[i]).map(|&i| &parts[i]).collect();
        let left = lines.len() - shown.len();
        let folded = g == Group::TagsOnly;
        if folded {
            let _ = writeln!(
                out,
                "<details><summary><b>{}</b> ({})</summary>\n",
                g.heading(),
                count(lines.len(), "resource")
            );
        } else {
            let _ = writeln!(out, "#### {} ({})\n", g.heading(), lines.len());
        }
        for part in shown {
            let _ = writeln!(out, "{}", part.text);
        }
        if left > 0 {
            shortened = true;
            let _ = writeln!(out, "- … and {} more, left out to keep this comment short", count(left, "change"));
        }
        out.push('\n');
        if folded {
            out.push_str("</details>\n\n");
        }
    }
    let blocks: Vec<usize> = (0..parts.len()).filter(|&i| !parts[i].line).collect();
    let shown: Vec<usize> = blocks.iter().copied().filter(|&i| chosen[i]).collect();
    if !blocks.is_empty() {
        out.push_str("#### What changes, attribute by attribute\n\n");
        for i in &shown {
            let _ = writeln!(out, "{}", parts[*i].text);
        }
        let left = blocks.len() - shown.len();
        if left > 0 {
            shortened = true;
            let _ = writeln!(
                out,
                "_The attribute changes of {} are left out to keep this comment short._\n",
                count(left, "resource")
            );
        }
    }
    out.push_str(tail);
    if shortened {
        let _ = writeln!(out, "\n_Shortened to fit {max_bytes} bytes: `bumarket-infra plan` shows every change._");
    }
    if out.len() > max_bytes {
        let _ = writeln!(
            out,
            "\n_Longer than {max_bytes} bytes: the deletion and replacement lines alone take more, and none is left out._"
        );
    }
    out
}

/// `- `-/+` `database.main` bumarket-db: replaced, `engine` cannot change in place`.
fn line(r: &ResourceChange, file: &str) -> String {
    let why = match (&r.reason, r.action) {
        (Some(Reason::RemovedFromFile), Action::Delete) => format!("**deleted**: no longer in `{file}`"),
        (Some(Reason::RemovedFromFile), _) => format!("no longer in `{file}`"),
        (Some(Reason::Duplicate), _) => "a duplicate copy of this resource".to_string(),
        (_, Action::Replace) => {
            let forced: Vec<String> = r.forced_by().map(|f| format!("`{f}`")).collect();
            format!("**replaced**: {} cannot change in place", forced.join(", "))
        }
        (_, Action::Delete) => "**deleted**".to_string(),
        (_, Action::Update) if r.all_drift() => DRIFT.to_string(),
        (_, Action::Adopt) => "adopted: made outside bumarket-infra, kept as it runs".to_string(),
        (_, Action::Release) => "released: no longer the stack's, keeps running".to_string(),
        _ => String::new(),
    };
    let mut text = format!("- `{}` **`{}`** {}", r.action.symbol(), r.addr, code(&r.name));
    if !why.is_empty() {
        let _ = write!(text, ": {why}");
    }
    for n in &r.notes {
        let _ = write!(text, " ({})", escape(n));
    }
    text
}

/// The attribute changes of one resource, as a collapsible diff; `None` without any.
fn details(r: &ResourceChange) -> Option<String> {
    let mut lines = Vec::new();
    for c in r.shown_changes() {
        lines.extend(attribute_lines(c));
    }
    if lines.is_empty() {
        return None;
    }
    let body = lines.join("\n");
    let fence = "`".repeat(longest_run(&body, '`').max(2) + 1);
    Some(format!(
        "<details><summary><code>{} {}</code> {}</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n",
        html(r.action.symbol()),
        html(r.addr.as_str()),
        html(&r.name)
    ))
}

/// `- name: before` and `+ name: after` per differing leaf; the applied record never.
fn attribute_lines(c: &AttrChange) -> Vec<String> {
    let mut leaves = Vec::new();
    if c.sensitive {
        let hidden = Some(Value::String("(sensitive)".into()));
        leaves.push((c.name.clone(), hidden.clone(), hidden));
    } else {
        diff(&c.name, c.before.as_ref(), c.after.as_ref(), &mut leaves);
    }
    let record = format!("tags.{TAG_APPLIED}");
    let mut out = Vec::new();
    for (path, before, after) in leaves.into_iter().filter(|(p, _, _)| *p != record) {
        let mut suffix = String::new();
        if c.forces_replacement {
            suffix.push_str("   # forces replacement");
        }
        if c.drift {
            let _ = write!(suffix, "   # {DRIFT}");
        }
        if let Some(b) = before {
            out.push(format!("- {path}: {}{}", short(&b), if after.is_none() { &suffix } else { "" }));
        }
        if let Some(a) = after {
            out.push(format!("+ {path}: {}{suffix}", short(&a)));
        }
    }
    out
}

fn notices(out: &mut String, p: &Plan) {
    for n in &p.notices {
        let _ = writeln!(out, "> **Note:** {}", escape(n));
    }
}

/// A value on one line, cut when very long.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 {
        format!("{}...", s.chars().take(157).collect::<String>())
    } else {
        s
    }
}

fn count(n: usize, noun: &str) -> String {
    super::human::count(n, noun)
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Text as a code span, whatever backticks it holds.
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// Text that Markdown would otherwise read as markup or HTML (code spans, between
/// backticks, are left as they are).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for ch in text.chars() {
        if ch == '`' {
            in_code = !in_code;
        }
        if in_code && ch != '\n' {
            out.push(ch);
            continue;
        }
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '*' | '_' | '[' | ']' | '|' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// Text inside HTML (a `<summary>`).
fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
