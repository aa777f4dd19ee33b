//! Typed conversions of single nodes: whole numbers, numbers, booleans, strings, choices.
//!
//! Each conversion checks the node's YAML type (a quoted `"8000"` is a string, not a
//! number), records one diagnostic when it is wrong – "wrong type for `app_port` in
//! `fleet`: expected a whole number, found a string `8000`" – and returns a [`Val`].
//! `what` names the value in messages, as "`key` in `section`".

use crate::reader::{Ctx, Val};
use crate::yaml::{Kind, Node};

/// How a node's value is named in messages: "a string `abc`", "a list", ...
pub fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Null => "nothing".into(),
        Kind::Bool(b) => format!("a boolean `{b}`"),
        Kind::Int(_) | Kind::Float(_) => format!("a number `{}`", node.raw),
        Kind::Str(s) if s.chars().count() > 40 => format!("a string `{}...`", s.chars().take(37).collect::<String>()),
        Kind::Str(s) => format!("a string `{s}`"),
        Kind::Seq(_) => "a list".into(),
        Kind::Map(_) => "a mapping".into(),
    }
}

/// Reports a value of the wrong type (`expected` like "a whole number").
pub fn type_error(cx: &mut Ctx, node: &Node, what: &str, expected: &str) {
    let message = format!("wrong type for {what}: expected {expected}, found {}", describe(node));
    let label = format!("expected {expected}");
    let number = matches!(node.kind, Kind::Str(_))
        && !matches!(crate::scalar::resolve_plain(&node.raw), Kind::Str(_) | Kind::Null);
    if number && node.quoted && expected != "a string" {
        cx.error_help(node.span, message, label, "remove the quotes: a quoted value is a string");
    } else if expected == "true or false" && matches!(node.raw.as_str(), "yes" | "no" | "on" | "off" | "Yes" | "No") {
        cx.error_help(node.span, message, label, "write `true` or `false`");
    } else {
        cx.error(node.span, message, label);
    }
}

pub fn uint(cx: &mut Ctx, node: &Node, what: &str, lo: u64, hi: u64) -> Val<u64> {
    match node.kind {
        Kind::Int(n) if n < 0 || (n as u64) < lo || (n as u64) > hi => {
            cx.error(node.span, format!("out-of-range value for {what}"), format!("expected {lo} to {hi}, found {n}"));
            Val::Bad
        }
        Kind::Int(n) => Val::Got(n as u64, node.span),
        _ => {
            type_error(cx, node, what, "a whole number");
            Val::Bad
        }
    }
}

pub fn number(cx: &mut Ctx, node: &Node, what: &str, lo: f64, hi: f64) -> Val<f64> {
    let value = match node.kind {
        Kind::Int(n) => n as f64,
        Kind::Float(f) => f,
        _ => {
            type_error(cx, node, what, "a number");
            return Val::Bad;
        }
    };
    if !(lo..=hi).contains(&value) {
        cx.error(
            node.span,
            format!("out-of-range value for {what}"),
            format!("expected {lo} to {hi}, found {}", node.raw),
        );
        return Val::Bad;
    }
    Val::Got(value, node.span)
}

pub fn boolean(cx: &mut Ctx, node: &Node, what: &str) -> Val<bool> {
    match node.kind {
        Kind::Bool(b) => Val::Got(b, node.span),
        _ => {
            type_error(cx, node, what, "true or false");
            Val::Bad
        }
    }
}

/// A string, strictly: numbers and booleans are type errors.
pub fn string(cx: &mut Ctx, node: &Node, what: &str) -> Val<String> {
    match &node.kind {
        Kind::Str(s) => Val::Got(s.clone(), node.span),
        _ => {
            type_error(cx, node, what, "a string");
            Val::Bad
        }
    }
}

/// Free text: any scalar, as written (`1234` is the text "1234").
pub fn text(cx: &mut Ctx, node: &Node, what: &str) -> Val<String> {
    match &node.kind {
        Kind::Seq(_) | Kind::Map(_) => {
            type_error(cx, node, what, "a string");
            Val::Bad
        }
        Kind::Null => Val::Got(String::new(), node.span),
        _ => Val::Got(node.raw.clone(), node.span),
    }
}

/// One of a fixed set of words.
pub fn choice(cx: &mut Ctx, node: &Node, what: &str, options: &[&'static str]) -> Val<&'static str> {
    let Val::Got(value, span) = text(cx, node, what) else { return Val::Bad };
    match options.iter().find(|o| **o == value) {
        Some(o) => Val::Got(o, span),
        None => {
            cx.not_one_of(span, format!("invalid value `{value}` for {what}"), &value, options);
            Val::Bad
        }
    }
}

/// A list's items.
pub fn seq<'n>(cx: &mut Ctx, node: &'n Node, what: &str) -> Option<&'n [Node]> {
    match &node.kind {
        Kind::Seq(items) => Some(items),
        Kind::Null => Some(&[]),
        _ => {
            type_error(cx, node, what, "a list");
            None
        }
    }
}
