//! The stack file's JSON Schema, generated from the shape the reader reads with.
//!
//! [`json_schema`] walks the declarations of `shape` (every section's keys, types, ranges,
//! words, defaults and descriptions, the very tables the reader takes its key lists and
//! ranges from) into a draft-07 schema. `schema/stack.schema.json` is its committed copy,
//! which editors use through yaml-language-server's modeline
//! (`# yaml-language-server: $schema=../schema/stack.schema.json`); a test keeps the copy
//! current (`BUMARKET_WRITE_SCHEMA=1 cargo test -p bumarket-stack schema` rewrites it).
//!
//! The schema checks what a file can be checked for alone: unknown keys, types, ranges,
//! words, required keys. What needs the rest of the file (references between sections,
//! subnets inside the VPC, windows that must not overlap, names resolving to valid AWS
//! names) is the reader's alone, so a file the schema accepts may still be refused by
//! `bumarket-infra validate`, never the other way round (YAML's `key: ~` is "not written",
//! as for the reader).

use crate::sections::{LOGICAL_NAME, TOP};
use crate::shape::{DefaultValue, Field, Shape, Ty};
use crate::time::MAX_DURATION;
use serde_json::{json, Map, Value};

/// Where the committed copy lives, relative to the repository's root.
pub const SCHEMA_PATH: &str = "schema/stack.schema.json";

/// `90s`, `15m`, `1h30m`, `2h`, or seconds as a string.
const DURATION_PATTERN: &str = "^([0-9]+|[0-9]+h([0-9]+m)?([0-9]+s)?|[0-9]+m([0-9]+s)?|[0-9]+s)$";

/// How a mapping is read: whole (`Full`), or as an environment's override, which merges
/// into the base key by key (`Override`: no key is required, and within lists, which
/// replace the base's whole, items are `Full` again).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Override,
}

/// The stack file's JSON Schema (draft-07).
pub fn json_schema() -> Value {
    let mut defs = Map::new();
    defs.insert("duration".into(), duration());
    let body = object(&TOP, Mode::Full, &mut defs);
    let mut root = Map::new();
    root.insert("$schema".into(), json!("http://json-schema.org/draft-07/schema#"));
    root.insert("title".into(), json!("bumarket-infra stack file"));
    if let Value::Object(body) = body {
        root.extend(body);
    }
    root.insert("definitions".into(), Value::Object(defs));
    Value::Object(root)
}

/// The committed file's text: pretty JSON and a trailing newline.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).expect("a schema is always JSON");
    text.push('\n');
    text
}

fn duration() -> Value {
    json!({
        "description": "A duration: `90s`, `15m`, `1h30m`, or a whole number of seconds; 1 s to 24 h.",
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_DURATION},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
    })
}

/// A mapping of the keys `shape` declares.
fn object(shape: &'static Shape, mode: Mode, defs: &mut Map<String, Value>) -> Value {
    let mut properties = Map::new();
    for field in shape.fields {
        properties.insert(field.name.into(), property(field, mode, defs));
    }
    let mut out = Map::new();
    out.insert("description".into(), json!(shape.doc));
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    let required: Vec<&str> = shape.required().collect();
    if mode == Mode::Full && !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    if mode == Mode::Full && shape.exactly_one {
        out.insert("minProperties".into(), json!(1));
        out.insert("maxProperties".into(), json!(1));
    }
    out.insert("additionalProperties".into(), json!(false));
    Value::Object(out)
}

/// One key's schema: its type, its description and default; an optional key may be
/// null (the reader takes `key: ~` as not written).
fn property(field: &'static Field, mode: Mode, defs: &mut Map<String, Value>) -> Value {
    let mut schema = ty(&field.ty, mode, defs);
    if !field.required || mode == Mode::Override {
        schema = nullable(schema);
    }
    let mut out = Map::new();
    out.insert("description".into(), json!(field.doc));
    let default = match field.default {
        DefaultValue::None => None,
        DefaultValue::Int(d) => Some(json!(d)),
        DefaultValue::Num(d) => Some(json!(d)),
        DefaultValue::Bool(d) => Some(json!(d)),
        DefaultValue::Str(d) => Some(json!(d)),
    };
    if let Some(d) = default {
        out.insert("default".into(), d);
    }
    if let Value::Object(schema) = schema {
        out.extend(schema);
    }
    Value::Object(out)
}

/// `schema`, or nothing.
fn nullable(schema: Value) -> Value {
    let Value::Object(mut s) = schema else { return schema };
    if s.is_empty() {
        return Value::Object(s);
    }
    let simple = !s.contains_key("$ref") && !s.contains_key("anyOf") && !s.contains_key("const");
    if let (true, Some(Value::String(t))) = (simple, s.get("type").cloned()) {
        s.insert("type".into(), json!([t, "null"]));
        if let Some(Value::Array(words)) = s.get_mut("enum") {
            words.push(Value::Null);
        }
        return Value::Object(s);
    }
    if let (true, Some(Value::Array(types))) = (simple, s.get_mut("type")) {
        types.push(json!("null"));
        return Value::Object(s);
    }
    let only_forms = s.len() == 1;
    if let Some(Value::Array(forms)) = s.get_mut("anyOf").filter(|_| only_forms) {
        forms.push(json!({"type": "null"}));
        return Value::Object(s);
    }
    json!({"anyOf": [Value::Object(s), {"type": "null"}]})
}

fn ty(t: &'static Ty, mode: Mode, defs: &mut Map<String, Value>) -> Value {
    match t {
        Ty::Str => json!({"type": "string"}),
        Ty::Pattern(p) => json!({"type": "string", "pattern": p}),
        Ty::Text => json!({"type": ["string", "number", "boolean"]}),
        Ty::Int(lo, hi) if *hi == u64::MAX => json!({"type": "integer", "minimum": lo}),
        Ty::Int(lo, hi) => json!({"type": "integer", "minimum": lo, "maximum": hi}),
        Ty::IntOneOf(values) => json!({"type": "integer", "enum": values}),
        Ty::Num(lo, hi) => json!({"type": "number", "minimum": lo, "maximum": hi}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::True => json!({"const": true}),
        Ty::Enum(words) => json!({"type": "string", "enum": words}),
        Ty::Word(word) => json!({"const": word}),
        Ty::Duration => json!({"$ref": "#/definitions/duration"}),
        Ty::List(item) => json!({"type": "array", "items": ty(item, Mode::Full, defs)}),
        Ty::MapOf(keys, value) => {
            let mut value_schema = ty(value, mode, defs);
            // A null bucket, role or group is an empty mapping; a null tag an empty value.
            if matches!(value, Ty::Obj(_) | Ty::Text) {
                value_schema = nullable(value_schema);
            }
            let mut out = Map::new();
            out.insert("type".into(), json!("object"));
            if let Some(pattern) = keys {
                out.insert("propertyNames".into(), json!({"pattern": pattern}));
            }
            out.insert("additionalProperties".into(), value_schema);
            Value::Object(out)
        }
        Ty::Obj(shape) => reference(shape, mode, defs),
        Ty::AnyOf(forms) => json!({"anyOf": forms.iter().map(|f| ty(f, mode, defs)).collect::<Vec<_>>()}),
        Ty::Any => json!({}),
        Ty::Environments(own) => {
            let name = own.name;
            if !defs.contains_key(name) {
                defs.insert(name.into(), Value::Null);
                let environment = environment(own, defs);
                defs.insert(name.into(), environment);
            }
            json!({
                "type": "object",
                "propertyNames": {"pattern": LOGICAL_NAME},
                "additionalProperties": {"$ref": format!("#/definitions/{name}")},
            })
        }
    }
}

/// An environment: its own keys (whole), then every top-level key an environment may
/// override, as an override.
fn environment(own: &'static Shape, defs: &mut Map<String, Value>) -> Value {
    let Value::Object(mut out) = object(own, Mode::Full, defs) else { unreachable!("an object") };
    let Some(Value::Object(properties)) = out.get_mut("properties") else { unreachable!("with properties") };
    let mut overrides = Map::new();
    for field in TOP.fields.iter().filter(|f| !crate::environments::FIXED.contains(&f.name)) {
        overrides.insert(field.name.into(), property(field, Mode::Override, defs));
    }
    properties.extend(overrides);
    Value::Object(out)
}

/// A `$ref` to the shape's definition in `mode`, defining it on first use. An override
/// that would say the same as the whole shape is the whole shape's definition.
fn reference(shape: &'static Shape, mode: Mode, defs: &mut Map<String, Value>) -> Value {
    let mode = if mode == Mode::Override && differs(shape) { Mode::Override } else { Mode::Full };
    let name = match mode {
        Mode::Full => shape.name.to_string(),
        Mode::Override => format!("{}_override", shape.name),
    };
    if !defs.contains_key(&name) {
        // Reserve the place first: definitions come in the order they are first used.
        defs.insert(name.clone(), Value::Null);
        let body = object(shape, mode, defs);
        defs.insert(name.clone(), body);
    }
    json!({"$ref": format!("#/definitions/{name}")})
}

/// Whether reading `shape` as an override differs from reading it whole: something in
/// it (outside lists) is required or exclusive.
fn differs(shape: &'static Shape) -> bool {
    fn in_ty(t: &'static Ty) -> bool {
        match t {
            Ty::Obj(s) => differs(s),
            Ty::MapOf(_, v) => in_ty(v),
            Ty::AnyOf(forms) => forms.iter().any(in_ty),
            _ => false,
        }
    }
    shape.exactly_one || shape.fields.iter().any(|f| f.required || in_ty(&f.ty))
}
