//! IAM policy documents compared by meaning, not text: a single statement or a list, a
//! string or a one-element list, key order, statement order and duplicate entries do not
//! matter. [`normalize`] maps every equivalent document to one canonical form, used for
//! both the file's and AWS's view, so an unchanged policy never shows a diff.

use serde_json::{json, Map, Value};

/// Keys whose value may be a string or a list of strings.
const LISTISH: [&str; 4] = ["Action", "NotAction", "Resource", "NotResource"];

/// Canonical form of a policy document.
pub fn normalize(doc: &Value) -> Value {
    let Some(obj) = doc.as_object() else { return doc.clone() };
    let mut out = Map::new();
    out.insert("Version".into(), obj.get("Version").cloned().unwrap_or_else(|| json!("2012-10-17")));
    if let Some(id) = obj.get("Id") {
        out.insert("Id".into(), id.clone());
    }
    let statements = match obj.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => vec![],
    };
    let mut statements: Vec<Value> = statements.iter().map(statement).collect();
    statements.sort_by_cached_key(|s| s.to_string());
    statements.dedup();
    out.insert("Statement".into(), Value::Array(statements));
    Value::Object(out)
}

fn statement(s: &Value) -> Value {
    let Some(obj) = s.as_object() else { return s.clone() };
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for k in keys {
        let v = &obj[k];
        let v = match k.as_str() {
            k if LISTISH.contains(&k) => string_set(v),
            "Principal" | "NotPrincipal" => match v {
                Value::Object(m) => sorted_map(m, string_set),
                other => other.clone(),
            },
            "Condition" => match v {
                Value::Object(ops) => sorted_map(ops, |keys| match keys {
                    Value::Object(m) => sorted_map(m, string_set),
                    other => other.clone(),
                }),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn sorted_map(m: &Map<String, Value>, f: impl Fn(&Value) -> Value) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    Value::Object(keys.into_iter().map(|k| (k.clone(), f(&m[k]))).collect())
}

/// A string, number, bool or list of them → a sorted, de-duplicated list of strings.
fn string_set(v: &Value) -> Value {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut items: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect();
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// A policy document from statements (already JSON objects).
pub fn document(statements: Vec<Value>) -> Value {
    normalize(&json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_documents_normalize_equal() {
        let a = json!({
            "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*"],
                          "Principal": {"AWS": "arn:aws:iam::1:root"}},
            "Version": "2012-10-17"
        });
        let b = json!({
            "Version": "2012-10-17",
            "Statement": [{"Resource": "arn:aws:s3:::b/*", "Principal": {"AWS": ["arn:aws:iam::1:root"]},
                           "Action": ["s3:GetObject", "s3:GetObject"], "Effect": "Allow"}]
        });
        assert_eq!(normalize(&a), normalize(&b));
    }

    #[test]
    fn statement_order_and_condition_scalars_do_not_matter() {
        let s1 = json!({"Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": false}}});
        let s2 = json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"]});
        let a = document(vec![s1.clone(), s2.clone()]);
        let b = normalize(&json!({"Statement": [
            {"Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow"},
            {"Condition": {"Bool": {"aws:SecureTransport": ["false"]}}, "Effect": "Deny", "Action": ["s3:*"]}
        ]}));
        assert_eq!(a, b);
    }

    #[test]
    fn different_meaning_stays_different() {
        let a = document(vec![json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})]);
        let b = document(vec![json!({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})]);
        assert_ne!(a, b);
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("ap-northeast-2"), "aws");
    }
}
