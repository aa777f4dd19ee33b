//! `environments:` – copies of one stack (staging, production) from one file, each pinned
//! to an AWS account, each a stack of its own in AWS.
//!
//! ```yaml
//! environments:
//!   staging:
//!     account: "111111111111"
//!     fleet: {min_size: 1, max_size: 2}
//!   prod:
//!     account: "222222222222"
//!     require: {deletion_protection: true, multi_az: true, min_instances: 2}
//! ```
//!
//! An environment's keys other than `account` and `require` override the base's top-level
//! sections: mappings merge key by key, anything else (a list, a scalar) replaces the
//! base's value whole. The merged tree is then read as any stack file, so every key is
//! checked at its own line; a problem on a value an environment wrote says so and names
//! the base's line it replaced. The environment's name joins the stack's
//! (`bumarket-prod`): it is part of every physical name and of the ownership tag, so
//! environments can share an account without touching each other.
//!
//! `require:` states what the environment must keep, checked once merged: a database
//! with `deletion_protection` and `multi_az`, a fleet of at least `min_instances`, a load
//! balancer with `deletion_protection`. A value that breaks one is an error at its line.

use crate::diagnostic::{Diagnostic, Span};
use crate::model::{Environment, Stack};
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::suggest::{closest, list};
use crate::yaml::{Entry, Kind, Node};

/// Keys of an environment that are its own, not overrides (which are every top-level key
/// but [`FIXED`]).
pub(crate) static OWN: Shape = Shape::new(
    "environment",
    "One environment: its account, its requirements, and overrides of the base's top-level sections (mappings merge key by key, lists and values replace the base's whole).",
    &[
        key("account", Ty::AnyOf(&[Ty::Pattern("^[0-9]{12}$"), Ty::Int(100_000_000_000, 999_999_999_999)]), "The 12-digit AWS account id the environment is pinned to (quote it: \"123456789012\").").req(),
        key("require", Ty::Obj(&REQUIRE), "What the environment must keep, checked once merged."),
    ],
);
/// Top-level keys an environment may not override.
pub(crate) const FIXED: &[&str] = &["stack", "environments"];
static REQUIRE: Shape = Shape::new(
    "environment_requirements",
    "What the merged environment must keep; each broken requirement is an error at the value that breaks it.",
    &[
        key("deletion_protection", Ty::Bool, "`true`: the merged `database.deletion_protection` must be true."),
        key("multi_az", Ty::Bool, "`true`: the merged `database.multi_az` must be true."),
        key("min_instances", Ty::Int(1, u64::MAX), "The merged `fleet.min_size` must be at least this."),
        key(
            "load_balancer_deletion_protection",
            Ty::Bool,
            "`true`: the merged `load_balancer.deletion_protection` must be true.",
        ),
    ],
);

/// The names the file's `environments:` declares, in file order (none without it).
pub(crate) fn names(root: &Node) -> Vec<String> {
    environments_node(root)
        .map(|e| match &e.value.kind {
            Kind::Map(entries) => entries.iter().map(|e| e.key.name.clone()).collect(),
            _ => vec![],
        })
        .unwrap_or_default()
}

fn environments_node(root: &Node) -> Option<&Entry> {
    match &root.kind {
        Kind::Map(entries) => entries.iter().find(|e| e.key.name == "environments"),
        _ => None,
    }
}

/// One place an environment wrote: the path (`fleet.max_size`) and the span of the
/// base's value it replaced, if any.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub path: String,
    pub base: Option<Span>,
    /// Spans of every node inside the value written (for locating problems).
    pub inner: Vec<Span>,
}

/// The chosen environment, merged into the base.
pub(crate) struct Chosen {
    pub root: Node,
    pub env: Environment,
    pub written: Vec<Written>,
    /// `require:` as written: (key, value node).
    pub require: Vec<(String, Span, Node)>,
}

/// Chooses the environment `env` (`None`: the file must declare none), returning the
/// tree to read: the base with the environment's overrides merged in and the stack's
/// name joined with the environment's. Problems go to `cx`; `None` when there is
/// nothing sound to read.
pub(crate) fn choose(cx: &mut Ctx, root: Node, env: Option<&str>) -> Option<Result<Chosen, Node>> {
    let Some(entry) = environments_node(&root).cloned() else {
        if let Some(name) = env {
            cx.diags.push(
                Diagnostic::at(
                    &cx.path,
                    Span::new(1, 1, 1),
                    format!("`--env {name}` was given, but the file declares no `environments:`"),
                    "no environments here",
                )
                .with_help("drop `--env`, or declare the environment under `environments:`"),
            );
            return None;
        }
        return Some(Err(root));
    };
    let envs = Map::open(cx, &entry.value, "environments", entry.key.span, None);
    let declared: Vec<&str> = envs.entries.iter().map(|e| e.key.name.as_str()).collect();
    let Some(name) = env else {
        cx.error_help(
            entry.key.span,
            format!("the file declares environments {}: say which", list(declared.iter().copied())),
            "choose one with `--env`",
            format!(
                "pass `--env {}` (every command takes it; `plan --env all` plans them all)",
                declared.first().copied().unwrap_or("NAME")
            ),
        );
        return None;
    };
    let Some(chosen) = envs.entries.iter().find(|e| e.key.name == name) else {
        let message = format!("the file declares no environment `{name}`");
        let expected = format!("it declares {}", list(declared.iter().copied()));
        match closest(name, declared.iter().copied()) {
            Some(best) => cx.error_help(entry.key.span, message, format!("did you mean `{best}`?"), expected),
            None => cx.error(entry.key.span, message, expected),
        }
        return None;
    };
    // Every environment's name is checked, so a bad one shows whichever is chosen.
    let base = base_name(&root);
    for e in envs.entries {
        if let Some(problem) = crate::names::logical_name(&e.key.name) {
            cx.error(e.key.span, format!("environment name `{}` {problem}", e.key.name), "invalid environment name");
        } else if let Some((joined, _)) = &base {
            for problem in crate::names::stack_name(&format!("{joined}-{}", e.key.name)) {
                cx.error(
                    e.key.span,
                    format!("stack name `{joined}-{}` (the stack's and the environment's) {problem}", e.key.name),
                    "shorten the environment's or the stack's name",
                );
            }
        }
    }
    let m = Map::open(cx, &chosen.value, &format!("environments.{name}"), chosen.key.span, None);
    m.need(cx, "account");
    let account = match m.text(cx, "account") {
        Val::Got(a, _) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => Some(a),
        Val::Got(a, span) => {
            cx.error(span, format!("`{a}` is not an AWS account id"), "expected 12 digits, quoted: \"123456789012\"");
            None
        }
        _ => None,
    };
    let mut require = Vec::new();
    if let Some(r) = m.entry("require") {
        let rm = Map::shaped(cx, &r.value, &format!("environments.{name}.require"), r.key.span, &REQUIRE);
        for e in rm.entries {
            require.push((e.key.name.clone(), e.key.span, e.value.clone()));
        }
    }
    let mut merged = root;
    if let Kind::Map(entries) = &mut merged.kind {
        entries.retain(|e| e.key.name != "environments");
    }
    let mut written = Vec::new();
    let own = OWN.keys();
    for e in m.entries.iter().filter(|e| !own.contains(&e.key.name.as_str())) {
        if FIXED.contains(&e.key.name.as_str()) {
            cx.error(
                e.key.span,
                format!("an environment cannot override `{}`", e.key.name),
                "the stack's name is joined with the environment's",
            );
            continue;
        }
        let top = crate::sections::TOP.keys();
        if !top.contains(&e.key.name.as_str()) {
            let options: Vec<&str> =
                top.iter().copied().filter(|k| !FIXED.contains(k)).chain(own.iter().copied()).collect();
            cx.not_one_of(
                e.key.span,
                format!("unknown key `{}` in `environments.{name}`", e.key.name),
                &e.key.name,
                &options,
            );
            continue;
        }
        merge_entry(&mut merged, e, &e.key.name, &mut written);
    }
    // The stack's name joined with the environment's, where the base wrote it.
    if let Kind::Map(entries) = &mut merged.kind {
        if let Some(s) = entries.iter_mut().find(|e| e.key.name == "stack") {
            if let Kind::Str(base) = &s.value.kind {
                let joined = format!("{base}-{name}");
                s.value.kind = Kind::Str(joined.clone());
                s.value.raw = joined;
            }
        }
    }
    let account = account?;
    Some(Ok(Chosen { root: merged, env: Environment { name: name.to_string(), account }, written, require }))
}

fn base_name(root: &Node) -> Option<(String, Span)> {
    let Kind::Map(entries) = &root.kind else { return None };
    let e = entries.iter().find(|e| e.key.name == "stack")?;
    match &e.value.kind {
        Kind::Str(s) => Some((s.clone(), e.value.span)),
        _ => None,
    }
}

fn spans(node: &Node, out: &mut Vec<Span>) {
    out.push(node.span);
    match &node.kind {
        Kind::Seq(items) => items.iter().for_each(|n| spans(n, out)),
        Kind::Map(entries) => entries.iter().for_each(|e| {
            out.push(e.key.span);
            spans(&e.value, out);
        }),
        _ => {}
    }
}

/// Merges the override `e` (at `path`) into the mapping `into`.
fn merge_entry(into: &mut Node, e: &Entry, path: &str, written: &mut Vec<Written>) {
    let Kind::Map(entries) = &mut into.kind else { return };
    match entries.iter_mut().find(|b| b.key.name == e.key.name) {
        Some(b) => match (&mut b.value.kind, &e.value.kind) {
            (Kind::Map(_), Kind::Map(overrides)) => {
                for o in overrides {
                    merge_entry(&mut b.value, o, &format!("{path}.{}", o.key.name), written);
                }
            }
            _ => {
                let mut inner = Vec::new();
                spans(&e.value, &mut inner);
                written.push(Written { path: path.to_string(), base: Some(b.value.span), inner });
                b.value = e.value.clone();
            }
        },
        None => {
            let mut inner = Vec::new();
            spans(&e.value, &mut inner);
            inner.push(e.key.span);
            written.push(Written { path: path.to_string(), base: None, inner });
            entries.push(e.clone());
        }
    }
}

/// Says, on each problem found on a value the environment wrote, that it did, and which
/// line of the base it replaced.
pub(crate) fn annotate(diags: &mut [Diagnostic], env: &str, written: &[Written]) {
    for d in diags {
        let at = |s: &Span| s.line == d.line && s.col == d.column;
        let Some(w) = written.iter().find(|w| w.inner.iter().any(at)) else { continue };
        let note = match w.base {
            Some(b) => format!("environment `{env}` sets `{}` here, over the base's value at line {}", w.path, b.line),
            None => format!("environment `{env}` sets `{}` here (the base has none)", w.path),
        };
        d.help = Some(match d.help.take() {
            Some(h) => format!("{h}; {note}"),
            None => note,
        });
    }
}

/// Checks the environment's `require:` on the merged stack: each broken requirement is an
/// error at the value that breaks it (the environment's or the base's), or at the
/// requirement when the value is a default.
pub(crate) fn check_requirements(cx: &mut Ctx, chosen: &Chosen, stack: &Stack) {
    let env = &chosen.env.name;
    for (key, key_span, value) in &chosen.require {
        let (path, holds, wanted): (&str, Option<bool>, String) = match (key.as_str(), &value.kind) {
            ("deletion_protection", Kind::Bool(true)) => {
                ("database.deletion_protection", stack.database.as_ref().map(|d| d.deletion_protection), "true".into())
            }
            ("multi_az", Kind::Bool(true)) => {
                ("database.multi_az", stack.database.as_ref().map(|d| d.multi_az), "true".into())
            }
            ("load_balancer_deletion_protection", Kind::Bool(true)) => (
                "load_balancer.deletion_protection",
                stack.load_balancer.as_ref().map(|l| l.deletion_protection),
                "true".into(),
            ),
            ("min_instances", Kind::Int(n)) if *n >= 1 => {
                let n = *n as u64;
                ("fleet.min_size", stack.fleet.as_ref().map(|f| u64::from(f.min_size) >= n), format!("at least {n}"))
            }
            (_, Kind::Bool(false)) => continue,
            _ => {
                let expected = if key == "min_instances" { "a whole number, at least 1" } else { "`true`" };
                cx.error(
                    value.span,
                    format!("`environments.{env}.require.{key}` must be {expected}"),
                    "invalid requirement",
                );
                continue;
            }
        };
        match holds {
            Some(true) => {}
            None => {
                let section = path.split('.').next().unwrap_or(path);
                cx.error(
                    *key_span,
                    format!("environment `{env}` requires `{path}` {wanted}, but it has no `{section}` section"),
                    "nothing to hold it",
                );
            }
            Some(false) => {
                let span = node_at(&chosen.root, path).map(|n| n.span).unwrap_or(*key_span);
                cx.error_help(
                    span,
                    format!("environment `{env}` requires `{path}` {wanted}"),
                    "this breaks it",
                    format!("the requirement is `environments.{env}.require.{key}` at line {}", key_span.line),
                );
            }
        }
    }
}

/// The node at a dotted path of mapping keys.
fn node_at<'n>(root: &'n Node, path: &str) -> Option<&'n Node> {
    let mut node = root;
    for part in path.split('.') {
        let Kind::Map(entries) = &node.kind else { return None };
        node = &entries.iter().find(|e| e.key.name == part)?.value;
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use crate::{environment_names, parse, parse_env};
    use std::path::Path;

    const FILE: &str = "\
stack: shop
region: ap-northeast-2
network:
  cidr: 10.0.0.0/16
  availability_zones: [ap-northeast-2a, ap-northeast-2c]
  public_subnets: [10.0.0.0/24, 10.0.1.0/24]
  private_subnets: [10.0.10.0/24, 10.0.11.0/24]
fleet:
  instance_type: t3.micro
  min_size: 1
  max_size: 2
database:
  engine: postgres
  engine_version: \"16\"
  instance_class: db.t4g.micro
  deletion_protection: false
environments:
  staging:
    account: \"111111111111\"
  prod:
    account: \"222222222222\"
    region: ap-northeast-1
    network: {availability_zones: [ap-northeast-1a, ap-northeast-1c]}
    fleet: {min_size: 2, desired_capacity: 2, max_size: 4}
    database: {deletion_protection: true, multi_az: true}
    require: {deletion_protection: true, multi_az: true, min_instances: 2}
";

    fn env(text: &str, env: &str) -> Result<crate::Stack, crate::Diagnostics> {
        parse_env(Path::new("shop.yaml"), text, Some(env))
    }

    #[test]
    fn each_environment_is_the_base_with_its_overrides_under_a_name_of_its_own() {
        let staging = env(FILE, "staging").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(staging.name, "shop-staging");
        assert_eq!(staging.environment.as_ref().unwrap().account, "111111111111");
        assert_eq!((staging.region.as_str(), staging.fleet.as_ref().unwrap().max_size), ("ap-northeast-2", 2));
        let prod = env(FILE, "prod").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(prod.name, "shop-prod");
        assert_eq!(prod.region, "ap-northeast-1");
        // Mappings merge key by key: the base's instance type stays, the sizes change.
        let fleet = prod.fleet.as_ref().unwrap();
        assert_eq!((fleet.instance_type.as_str(), fleet.min_size, fleet.max_size), ("t3.micro", 2, 4));
        // Lists are replaced whole; the rest of `network` is the base's.
        let net = prod.network.as_ref().unwrap();
        assert_eq!(net.availability_zones, ["ap-northeast-1a", "ap-northeast-1c"]);
        assert_eq!(net.public_subnets.len(), 2);
        assert!(prod.database.as_ref().unwrap().multi_az);
        let path = std::env::temp_dir().join(format!("environments-{}.yaml", std::process::id()));
        std::fs::write(&path, FILE).unwrap();
        let names = environment_names(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(names, ["staging", "prod"]);
    }

    #[test]
    fn a_file_with_environments_needs_one_named_and_only_one_it_declares() {
        let e = parse(Path::new("shop.yaml"), FILE).unwrap_err().to_string();
        assert!(e.contains("the file declares environments `staging`, `prod`: say which"), "{e}");
        assert!(e.contains("pass `--env staging`"), "{e}");
        let e = env(FILE, "production").unwrap_err().to_string();
        assert!(e.contains("the file declares no environment `production`"), "{e}");
        assert!(e.contains("it declares `staging`, `prod`"), "{e}");
        let e = env(FILE, "stagin").unwrap_err().to_string();
        assert!(e.contains("did you mean `staging`?"), "{e}");
        let plain = "stack: shop\nregion: ap-northeast-2\n";
        let e = env(plain, "prod").unwrap_err().to_string();
        assert!(e.contains("`--env prod` was given, but the file declares no `environments:`"), "{e}");
    }

    #[test]
    fn a_wrong_merged_value_names_the_override_and_the_base_line_it_replaced() {
        let bad = FILE.replace("max_size: 4}", "max_size: 400}");
        let e = env(&bad, "prod").unwrap_err();
        let d = &e.items[0];
        let line = bad.lines().position(|l| l.contains("max_size: 400")).unwrap() + 1;
        assert_eq!(d.line, line, "{e}");
        let help = d.help.as_deref().unwrap_or_default();
        assert!(
            help.contains("environment `prod` sets `fleet.max_size` here, over the base's value at line 11"),
            "{e}"
        );
        // Staging does not override it: the same file is valid as staging.
        env(&bad, "staging").unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn an_override_that_breaks_a_requirement_is_an_error_at_its_line() {
        let broken = FILE.replace(
            "database: {deletion_protection: true, multi_az: true}",
            "database: {deletion_protection: false, multi_az: true}",
        );
        let e = env(&broken, "prod").unwrap_err();
        assert_eq!(e.items.len(), 1, "{e}");
        let d = &e.items[0];
        assert_eq!(d.line, broken.lines().position(|l| l.contains("{deletion_protection: false, ")).unwrap() + 1);
        assert!(d.message.contains("environment `prod` requires `database.deletion_protection` true"), "{e}");
        let small = FILE.replace("fleet: {min_size: 2, desired_capacity: 2, max_size: 4}", "fleet: {max_size: 4}");
        let e = env(&small, "prod").unwrap_err();
        assert!(e.items[0].message.contains("requires `fleet.min_size` at least 2"), "{e}");
        // The base's `min_size: 1` breaks it: the error is at the base's line.
        assert_eq!(e.items[0].line, small.lines().position(|l| l == "  min_size: 1").unwrap() + 1, "{e}");
    }

    #[test]
    fn environments_keep_their_account_and_cannot_rename_the_stack() {
        let bad = FILE.replace("account: \"111111111111\"", "account: \"1111\"\n    stack: other\n    databse: {}");
        let e = env(&bad, "staging").unwrap_err().to_string();
        assert!(e.contains("`1111` is not an AWS account id"), "{e}");
        assert!(e.contains("an environment cannot override `stack`"), "{e}");
        assert!(e.contains("unknown key `databse` in `environments.staging`"), "{e}");
        let long = FILE.replace("  staging:", "  staging-for-qa-team1:");
        let e = env(&long, "prod").unwrap_err().to_string();
        assert!(e.contains("(the stack's and the environment's) "), "{e}");
    }
}
