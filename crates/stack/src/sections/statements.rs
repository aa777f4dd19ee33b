//! Raw IAM policy statements (`policy_statements:`, `statements:`), converted to JSON.
//!
//! Each statement is a mapping with IAM's own keys (`Sid`, `Effect`, `Action`, ...; a typo
//! like `Actions` is reported with a suggestion) and an `Effect` of `Allow` or `Deny`. The
//! values are copied to [`serde_json::Value`] as written, in file order.

use crate::reader::{describe, Ctx, Map};
use crate::shape::{key, Shape, Ty};
use crate::yaml::{Kind, Node};
use serde_json::Value;

pub(crate) static STATEMENT: Shape = Shape::new(
    "iam_statement",
    "A raw IAM policy statement, with IAM's own keys; it needs `Action` or `NotAction`.",
    &[
        key("Sid", Ty::Any, "The statement's id."),
        key("Effect", Ty::Enum(&["Allow", "Deny"]), "Allow or Deny.").req(),
        key("Principal", Ty::Any, "Who the statement applies to (bucket policies)."),
        key("NotPrincipal", Ty::Any, "Who it does not apply to."),
        key("Action", Ty::Any, "The actions, like `s3:GetObject` or a list of them."),
        key("NotAction", Ty::Any, "Every action but these."),
        key("Resource", Ty::Any, "The resources."),
        key("NotResource", Ty::Any, "Every resource but these."),
        key("Condition", Ty::Any, "IAM conditions."),
    ],
);

/// Reads the list under `key` of `map` (empty when absent).
pub(crate) fn read(cx: &mut Ctx, map: &Map, key: &str) -> Vec<Value> {
    let items = map.seq(cx, key);
    let mut out = Vec::with_capacity(items.len());
    for (i, node) in items.iter().enumerate() {
        let path = format!("{}[{i}]", map.child(key));
        let statement = Map::shaped(cx, node, &path, node.span, &STATEMENT);
        if !matches!(node.kind, Kind::Map(_)) {
            continue;
        }
        if statement.need_all(cx) {
            statement.choice(cx, "Effect");
        }
        if !statement.has("Action") && !statement.has("NotAction") {
            cx.error(node.span, format!("statement `{path}` has no `Action`"), "add `Action:` (or `NotAction:`)");
        }
        out.push(to_json(cx, node, &path));
    }
    out
}

/// A node as JSON; mapping keys are reported when duplicated.
fn to_json(cx: &mut Ctx, node: &Node, path: &str) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(n) => Value::from(*n),
        Kind::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => {
                let message = format!("`{path}` holds {}, which JSON cannot represent", describe(node));
                cx.error(node.span, message, "not a finite number");
                Value::Null
            }
        },
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => {
            Value::Array(items.iter().enumerate().map(|(i, n)| to_json(cx, n, &format!("{path}[{i}]"))).collect())
        }
        Kind::Map(_) => {
            let map = Map::open(cx, node, path, node.span, None);
            let mut object = serde_json::Map::new();
            for e in map.entries {
                let value = to_json(cx, &e.value, &map.child(&e.key.name));
                object.entry(e.key.name.clone()).or_insert(value);
            }
            Value::Object(object)
        }
    }
}
