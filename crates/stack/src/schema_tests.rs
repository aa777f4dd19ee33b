//! Tests of the JSON Schema: the committed copy is the generated one, every stack file the
//! project ships validates against it, and what the reader refuses for a shape reason
//! (unknown key, wrong type, value out of range, unknown word, missing key) the schema
//! refuses too: for a list of hand-picked files, and for every range, word list and
//! required key the shape declares.

use crate::schema::{json_schema, json_schema_text, SCHEMA_PATH};
use crate::sections::TOP;
use crate::shape::{Shape, Ty};
use crate::yaml::{Kind, Node};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn validator() -> jsonschema::Validator {
    let schema = json_schema();
    jsonschema::draft7::meta::validate(&schema).unwrap_or_else(|e| panic!("not a draft-07 schema: {e}"));
    jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
}

/// A YAML node as the JSON an editor's schema check sees.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(n) => Value::from(*n),
        Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => {
            let mut object = serde_json::Map::new();
            for e in entries {
                object.entry(e.key.name.clone()).or_insert_with(|| to_json(&e.value));
            }
            Value::Object(object)
        }
    }
}

fn yaml_json(path: &Path, text: &str) -> Value {
    let (root, _) = crate::yaml::build(path, text).unwrap_or_else(|e| panic!("{}: {}", path.display(), e.message));
    to_json(&root)
}

/// The schema's complaints about `text`, one line each.
fn schema_errors(v: &jsonschema::Validator, text: &str) -> Vec<String> {
    let instance = yaml_json(Path::new("t.yaml"), text);
    v.iter_errors(&instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn reader_errors(text: &str) -> Vec<String> {
    match crate::parse(Path::new("t.yaml"), text) {
        Ok(_) => Vec::new(),
        Err(e) => e.items.iter().map(|d| d.message.clone()).collect(),
    }
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = repo(SCHEMA_PATH);
    let generated = json_schema_text();
    if std::env::var_os("BUMARKET_WRITE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_PATH} is not the schema the stack crate generates (the shape changed).\n\
         Regenerate it with `BUMARKET_WRITE_SCHEMA=1 cargo test -p bumarket-stack schema` and commit it."
    );
}

/// Every complete stack file of the project: `stacks/`, `examples/`, `tests/stacks/`.
fn shipped_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["stacks", "examples", "tests/stacks"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(repo(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

#[test]
fn every_shipped_stack_file_validates_and_the_reader_accepts_it() {
    let v = validator();
    let files = shipped_files();
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let errors: Vec<String> =
            v.iter_errors(&yaml_json(&path, &text)).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not match the schema:\n{}", path.display(), errors.join("\n"));
        let envs = crate::environment_names(&path).unwrap_or_else(|e| panic!("{e}"));
        let chosen: Vec<Option<&str>> =
            if envs.is_empty() { vec![None] } else { envs.iter().map(|e| Some(e.as_str())).collect() };
        for env in chosen {
            if let Err(e) = crate::load_env(&path, env) {
                panic!("the reader refuses {} ({env:?}):\n{e}", path.display());
            }
        }
    }
}

#[test]
fn shipped_files_name_the_schema_in_their_first_line() {
    for path in ["stacks/bumarket.yaml", "examples/minimal.yaml"] {
        let text = std::fs::read_to_string(repo(path)).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let target =
            first.strip_prefix("# yaml-language-server: $schema=").unwrap_or_else(|| panic!("{path}: {first}"));
        let from = repo(path).parent().unwrap().join(target);
        assert_eq!(from.canonicalize().unwrap(), repo(SCHEMA_PATH).canonicalize().unwrap(), "{path}");
    }
}

const BASE: &str = "stack: shop
region: ap-northeast-2
network:
  cidr: 10.0.0.0/16
  availability_zones: [ap-northeast-2a, ap-northeast-2c]
  public_subnets: [10.0.0.0/24, 10.0.1.0/24]
  private_subnets: [10.0.10.0/24, 10.0.11.0/24]
fleet: {instance_type: t3.micro}
load_balancer: {}
database: {engine: postgres, engine_version: '16', instance_class: db.t3.micro}
buckets:
  logs: {}
monitoring: {emails: [ops@shop.example]}
";

/// `BASE` with `extra` (top-level sections) in place of the base's own.
fn with(extra: &str) -> String {
    let (root, _) = crate::yaml::build(Path::new("x.yaml"), extra).unwrap();
    let Kind::Map(entries) = &root.kind else { panic!("{extra}") };
    let replaced: Vec<&str> = entries.iter().map(|e| e.key.name.as_str()).collect();
    let mut text = String::new();
    let mut skipping = false;
    for line in BASE.lines() {
        if !line.starts_with(' ') {
            skipping = replaced.iter().any(|k| line.starts_with(&format!("{k}:")));
        }
        if !skipping {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(extra);
    text
}

#[test]
fn the_base_of_the_cases_is_accepted_by_both() {
    let v = validator();
    assert_eq!(reader_errors(BASE), Vec::<String>::new());
    assert_eq!(schema_errors(&v, BASE), Vec::<String>::new());
    // Nulls are keys not written, for both; an override needs nothing required.
    let nulls = with("cloud9:\nbuckets:\n  logs:\n  images: {versioning: ~}\n");
    assert_eq!(reader_errors(&nulls), Vec::<String>::new());
    assert_eq!(schema_errors(&v, &nulls), Vec::<String>::new());
    let env = with("environments:\n  prod:\n    account: \"123456789012\"\n    database: {multi_az: true}\n    fleet: {max_size: 2}\n    require: {multi_az: true, min_instances: 1}\n");
    assert!(crate::parse_env(Path::new("t.yaml"), &env, Some("prod")).is_ok());
    assert_eq!(schema_errors(&v, &env), Vec::<String>::new());
}

/// Files the reader refuses for their shape: the schema must refuse each too.
const REFUSED: &[(&str, &str)] = &[
    ("unknown top-level key", "colour: blue\n"),
    ("unknown key in a section", "fleet: {instance_type: t3.micro, instance_typo: t3.small}\n"),
    ("unknown key deep down", "load_balancer: {health_check: {path: /, intervall_seconds: 30}}\n"),
    ("unknown key in a bucket", "buckets: {logs: {versionning: true}}\n"),
    ("unknown key in a statement", "buckets: {logs: {policy_statements: [{Effect: Allow, Actions: ['s3:*']}]}}\n"),
    ("a password in the file", "database: {engine: postgres, engine_version: '16', instance_class: db.t3.micro, password: {plaintext: hunter2}}\n"),
    ("the password itself", "database: {engine: postgres, engine_version: '16', instance_class: db.t3.micro, password: hunter2}\n"),
    ("two password sources", "database: {engine: postgres, engine_version: '16', instance_class: db.t3.micro, password: {managed: {}, secret_arn: 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:x'}}\n"),
    ("quoted number", "fleet: {instance_type: t3.micro, app_port: \"8000\"}\n"),
    ("yes for a boolean", "load_balancer: {deletion_protection: yes}\n"),
    ("a list for a mapping", "fleet: [t3.micro]\n"),
    ("a mapping for a list", "monitoring: {emails: {team: ops@shop.example}}\n"),
    ("a number for a string", "stack: 42\n"),
    ("out of range", "fleet: {instance_type: t3.micro, app_port: 70000}\n"),
    ("below range", "database: {engine: postgres, engine_version: '16', instance_class: db.t3.micro, port: 80}\n"),
    ("a number out of range", "monitoring: {emails: [ops@shop.example], alarms: {fleet_cpu_percent: 0.5}}\n"),
    ("a retention CloudWatch refuses", "monitoring: {emails: [ops@shop.example], log_retention_days: 200}\n"),
    ("a long duration", "fleet: {instance_type: t3.micro, wait_timeout: 90000}\n"),
    ("a bad duration", "fleet: {instance_type: t3.micro, wait_timeout: 15 minutes}\n"),
    ("unknown engine", "database: {engine: oracle-xe, engine_version: '19', instance_class: db.t3.micro}\n"),
    ("unknown volume type", "fleet: {instance_type: t3.micro, root_volume: {type: gp4}}\n"),
    ("unknown encryption", "buckets: {logs: {encryption: aes}}\n"),
    ("unknown grant access", "access: {groups: {devs: {grants: [{bucket: logs, access: admin}]}}}\n"),
    ("unknown effect", "buckets: {logs: {policy_statements: [{Effect: Permit, Action: ['s3:*']}]}}\n"),
    ("public access on without a mapping", "buckets: {logs: {public_access: open}}\n"),
    ("network neither a mapping nor existing", "network: mine\n"),
    ("zone neither a mapping nor existing", "domain: {name: shop.example.com, zone: mine}\n"),
    ("missing stack", "stack: ~\n"),
    ("missing key in a section", "fleet: {image: ami-0123456789abcdef0}\n"),
    ("missing key in the network", "network: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c]}\n"),
    ("missing lifecycle id", "buckets: {logs: {lifecycle: [{expire_after_days: 30}]}}\n"),
    ("missing role trust", "access: {roles: {app: {instance_profile: false}}}\n"),
    ("missing grant bucket", "access: {groups: {devs: {grants: [{access: read}]}}}\n"),
    ("missing access_logs bucket", "load_balancer: {access_logs: {prefix: alb}}\n"),
    ("missing adoption id", "adopt: {vpc.main: {name: shared}}\n"),
    ("not a resource address", "adopt: {images: shop-images}\n"),
    ("bad logical name", "buckets: {Logs: {}}\n"),
    ("bad stack name", "stack: Shop\n"),
    ("an empty lookup", "existing: {vpc: ''}\n"),
    ("missing environment account", "environments: {prod: {fleet: {max_size: 2}}}\n"),
    ("an account that is no account", "environments: {prod: {account: '1234'}}\n"),
    ("an environment overrides what it cannot", "environments: {prod: {account: '123456789012', stack: other}}\n"),
    ("an unknown key in an environment", "environments: {prod: {account: '123456789012', colour: blue}}\n"),
    ("an unknown requirement", "environments: {prod: {account: '123456789012', require: {backups: true}}}\n"),
    ("an unknown key in an override", "environments: {prod: {account: '123456789012', fleet: {max_sise: 2}}}\n"),
    ("a range in an override", "environments: {prod: {account: '123456789012', fleet: {max_size: 101}}}\n"),
];

#[test]
fn what_the_reader_refuses_for_its_shape_the_schema_refuses() {
    let v = validator();
    for (what, extra) in REFUSED {
        let text = with(extra);
        // With environments, the reader refuses the file read as the environment.
        let env = extra.contains("environments").then_some("prod");
        let refused = crate::parse_env(Path::new("t.yaml"), &text, env).is_err();
        assert!(refused, "the reader accepts {what}:\n{text}");
        assert!(!schema_errors(&v, &text).is_empty(), "the schema accepts {what}:\n{text}");
    }
}

/// Where a mapping of `shape` is written in a file: the path of keys to it.
struct Place {
    path: Vec<&'static str>,
    shape: &'static Shape,
    /// The way there passes a key of several forms (`network`: a mapping or `existing`).
    forms: bool,
}

/// Every mapping reachable from the top through mappings (not lists or free names: those
/// are reached by the hand-picked cases).
fn places() -> Vec<Place> {
    fn walk(path: Vec<&'static str>, shape: &'static Shape, forms: bool, out: &mut Vec<Place>) {
        for f in shape.fields {
            let mut inner: Vec<&'static Shape> = Vec::new();
            match &f.ty {
                Ty::Obj(s) => inner.push(s),
                Ty::AnyOf(forms) => inner.extend(forms.iter().filter_map(|t| match t {
                    Ty::Obj(s) => Some(*s),
                    _ => None,
                })),
                _ => {}
            }
            for s in inner {
                let mut p = path.clone();
                p.push(f.name);
                walk(p, s, forms || matches!(f.ty, Ty::AnyOf(_)), out);
            }
        }
        out.push(Place { path, shape, forms });
    }
    let mut out = Vec::new();
    walk(Vec::new(), &TOP, false, &mut out);
    out
}

/// The YAML for `value` at `path` (nested flow mappings), as a top-level section.
fn nest(path: &[&str], key: &str, value: &str) -> String {
    let mut inner = format!("{{{key}: {value}}}");
    for k in path.iter().skip(1).rev() {
        inner = format!("{{{k}: {inner}}}");
    }
    match path.first() {
        Some(section) => format!("{section}: {inner}\n"),
        None => format!("{key}: {value}\n"),
    }
}

/// `section` (a top-level line from [`nest`]) as the override of environment `prod`.
fn as_override(section: &str) -> String {
    format!("{BASE}environments:\n  prod:\n    account: '123456789012'\n    {section}")
}

/// The schema's complaints about `text` other than missing keys.
fn schema_errors_but_missing(v: &jsonschema::Validator, text: &str) -> Vec<String> {
    let instance = yaml_json(Path::new("t.yaml"), text);
    v.iter_errors(&instance)
        .filter(|e| !matches!(e.kind(), jsonschema::error::ValidationErrorKind::Required { .. }))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// For every whole number, number, word list, boolean and duration the shape declares:
/// a value just outside is refused by the reader (naming the key) and by the schema, as
/// the whole file's value and as an environment's override (where nothing else is
/// missing, so that the bad value is the only complaint).
#[test]
fn every_declared_range_and_word_list_is_the_readers_and_the_schemas() {
    let v = validator();
    let mut checked = 0;
    for place in places() {
        if place.path.is_empty() {
            continue;
        }
        for f in place.shape.fields {
            let bad: Vec<String> = match &f.ty {
                Ty::Int(lo, hi) => {
                    let mut b = vec!["1.5".to_string(), "\"1\"".to_string()];
                    if *hi < i64::MAX as u64 {
                        b.push((hi + 1).to_string());
                    }
                    if *lo > 0 {
                        b.push((lo - 1).to_string());
                    }
                    b
                }
                Ty::IntOneOf(values) => vec![(values.iter().max().unwrap() + 1).to_string(), "2".into()],
                Ty::Num(lo, hi) => vec![format!("{}", lo - 0.5), format!("{}", hi * 2.0), "\"5\"".into()],
                Ty::Enum(_) => vec!["not-one-of-them".into()],
                Ty::Bool => vec!["yes".into(), "1".into()],
                Ty::Duration => vec!["0".into(), "90000".into(), "soon".into()],
                Ty::Str => vec!["[a, b]".into()],
                _ => continue,
            };
            for value in bad {
                let section = nest(&place.path, f.name, &value);
                let text = with(&section);
                let reader = reader_errors(&text);
                let name = format!("`{}`", f.name);
                // A retention CloudWatch refuses is said in its own words.
                let named = reader.iter().any(|m| m.contains(&name));
                assert!(
                    named || (matches!(f.ty, Ty::IntOneOf(_)) && !reader.is_empty()),
                    "the reader does not refuse `{}: {value}` at {:?}: {reader:#?}\n{text}",
                    f.name,
                    place.path
                );
                if !place.forms {
                    let schema = schema_errors_but_missing(&v, &text);
                    assert!(!schema.is_empty(), "the schema accepts `{}: {value}`:\n{text}", f.name);
                }
                let unset = as_override(&nest(&place.path, f.name, "~"));
                assert_eq!(schema_errors(&v, &unset), Vec::<String>::new(), "{unset}");
                let overridden = as_override(&section);
                let schema = schema_errors(&v, &overridden);
                assert!(!schema.is_empty(), "the schema accepts `{}: {value}` in an override:\n{overridden}", f.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

/// For every mapping reachable through mappings: written empty, the reader misses each
/// key the shape declares required, and so does the schema.
#[test]
fn every_declared_required_key_is_the_readers_and_the_schemas() {
    let v = validator();
    let mut checked = 0;
    for place in places() {
        let required: Vec<&str> = place.shape.required().collect();
        if required.is_empty() || place.path.is_empty() {
            continue;
        }
        let (last, outer) = place.path.split_last().unwrap();
        let text = with(&nest(outer, last, "{}"));
        let reader = reader_errors(&text);
        for key in &required {
            assert!(
                reader.iter().any(|m| m.contains("missing") && m.contains(&format!("`{key}`"))),
                "the reader does not miss `{key}` at {:?}: {reader:#?}\n{text}",
                place.path
            );
        }
        let schema = schema_errors(&v, &text);
        assert!(!schema.is_empty(), "the schema does not miss {required:?} at {:?}:\n{text}", place.path);
        checked += required.len();
    }
    assert!(checked >= 10, "{checked}");
}
