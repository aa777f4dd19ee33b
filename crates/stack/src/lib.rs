//! The bumarket-infra stack file: one YAML file that describes a whole AWS stack.
//!
//! [`load`] reads a file and [`parse`] reads text already in memory; both return the checked
//! [`Stack`] (every default filled in, every reference resolved) or [`Diagnostics`] with
//! every problem in the file at once, each pointing at its line and column. The crate knows
//! nothing of AWS's SDK: it is the contract between the file and the engine.
//!
//! Layers, bottom up: `yaml` builds a located node tree from yaml-rust2's events; `reader`
//! turns nodes into typed values while collecting problems; `sections` reads each part of
//! the file and checks it against the others; `names`, `cidr` and `time` hold the rules.

mod cidr;
pub mod diagnostic;
mod environments;
pub mod model;
mod names;
mod reader;
mod scalar;
pub mod schema;
mod sections;
mod shape;
mod suggest;
mod time;
mod values;
pub mod write;
mod yaml;

#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod shipped_tests;
#[cfg(test)]
mod snapshot_tests;

pub use diagnostic::{Diagnostic, Diagnostics, Span};
pub use model::*;

/// `fleet.instance_role`'s value naming the role `existing.role` finds.
pub const EXISTING_ROLE: &str = "existing.role";
/// Durations as the stack file writes them (`90s`, `15m`, `1h30m`, or seconds).
pub use suggest::closest;
pub use time::parse_duration;

use sha2::{Digest, Sha256};
use std::path::Path;

/// Read and check a stack file. All problems at once.
pub fn load(path: &Path) -> Result<Stack, Diagnostics> {
    load_env(path, None)
}

/// Same for text already read (path is used in messages and to resolve `fleet.user_data`).
/// A file that declares `environments:` needs one chosen: see [`parse_env`].
pub fn parse(path: &Path, text: &str) -> Result<Stack, Diagnostics> {
    parse_env(path, text, None)
}

/// Read and check a stack file as environment `env` (`--env`): the base with the
/// environment's overrides merged in, pinned to its account. `None` for a file without
/// `environments:` (one that declares them refuses it, naming them).
pub fn load_env(path: &Path, env: Option<&str>) -> Result<Stack, Diagnostics> {
    let text = read_text(path)?;
    parse_env(path, &text, env)
}

/// The environments a stack file declares, in file order (empty without
/// `environments:`); only a syntax error fails.
pub fn environment_names(path: &Path) -> Result<Vec<String>, Diagnostics> {
    let text = read_text(path)?;
    match yaml::build(path, &text) {
        Ok((root, _)) => Ok(environments::names(&root)),
        Err(syntax) => Err(Diagnostics::new(path, text, vec![syntax])),
    }
}

fn read_text(path: &Path) -> Result<String, Diagnostics> {
    let fail = |message: String| Diagnostics::new(path, "", vec![Diagnostic::whole_file(path, message)]);
    let bytes = std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        fail(format!("could not read `{}`: {reason}", path.display()))
    })?;
    String::from_utf8(bytes).map_err(|_| fail(format!("`{}` is not UTF-8 text", path.display())))
}

/// [`parse`] as environment `env`.
pub fn parse_env(path: &Path, text: &str, env: Option<&str>) -> Result<Stack, Diagnostics> {
    let (root, mut diags) = match yaml::build(path, text) {
        Ok(built) => built,
        Err(syntax) => return Err(Diagnostics::new(path, text, vec![syntax])),
    };
    let mut cx = reader::Ctx {
        path: path.to_path_buf(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        diags: Vec::new(),
        secrets: Vec::new(),
    };
    let source = Source { path: path.to_path_buf(), sha256: sha256_hex(text.as_bytes()) };
    let stack = match environments::choose(&mut cx, root, env) {
        None => None,
        Some(Err(root)) => Some(sections::read_stack(&mut cx, &root, source)),
        Some(Ok(chosen)) => {
            let before = cx.diags.len();
            let mut stack = sections::read_stack(&mut cx, &chosen.root, source);
            environments::annotate(&mut cx.diags[before..], &chosen.env.name, &chosen.written);
            environments::check_requirements(&mut cx, &chosen, &stack);
            stack.environment = Some(chosen.env);
            Some(stack)
        }
    };
    diags.append(&mut cx.diags);
    let Some(stack) = stack.filter(|_| diags.is_empty()) else {
        diags.sort_by_key(|d| (d.line, d.column));
        diags.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.message == b.message);
        return Err(Diagnostics::new(path, diagnostic::mask(text, &cx.secrets), diags));
    };
    Ok(stack)
}

/// Physical bucket name for a template like "{stack}-logs-{account_id}-{region}".
pub fn bucket_name(template: &str, stack: &str, account_id: &str, region: &str) -> String {
    names::bucket_name(template, stack, account_id, region)
}

/// The default template for a logical bucket when `name:` is absent: "{stack}-<logical>-{account_id}-{region}".
pub fn default_bucket_template(logical: &str) -> String {
    format!("{{stack}}-{logical}-{{account_id}}-{{region}}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_bucket_helpers() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(default_bucket_template("logs"), "{stack}-logs-{account_id}-{region}");
        assert_eq!(bucket_name("{stack}-x-{account_id}", "s", "123456789012", "r"), "s-x-123456789012");
    }

    #[test]
    fn unreadable_file_is_one_whole_file_problem() {
        let err = load(Path::new("/nonexistent/stack.yaml")).unwrap_err();
        assert_eq!(err.items.len(), 1);
        assert_eq!(err.items[0].line, 0);
        assert_eq!(
            err.to_string(),
            "error: could not read `/nonexistent/stack.yaml`: no such file\n  --> /nonexistent/stack.yaml\n\nerror: could not use `/nonexistent/stack.yaml`: 1 problem"
        );
    }
}

/// A problem found outside the file (AWS would refuse a value) reported as the file's own
/// problems are: at the value that `keys` leads to (mapping keys, and sequence indexes
/// as numbers: `["network", "availability_zones", "1"]`), or, where the file leaves it
/// to its default, at the deepest key on the way (the section that holds it). `text` is
/// the file as read; `None` when it no longer parses (it changed since).
pub fn locate(path: &Path, text: &str, keys: &[&str]) -> Option<Span> {
    let (root, _) = yaml::build(path, text).ok()?;
    let mut node = &root;
    let mut at = Span::new(1, 1, 1);
    for key in keys {
        let next = match &node.kind {
            yaml::Kind::Map(entries) => entries.iter().find(|e| e.key.name == *key).map(|e| {
                at = e.key.span;
                &e.value
            }),
            yaml::Kind::Seq(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return Some(at),
        }
    }
    Some(node.span)
}

#[cfg(test)]
mod locate_tests {
    use super::*;

    #[test]
    fn values_keys_and_items_are_found_and_a_missing_value_points_at_its_section() {
        let text = "name: x\nnetwork:\n  availability_zones: [a-1a, a-1z]\ndatabase:\n  engine: oracle-ee\n";
        let at = |keys: &[&str]| locate(Path::new("f.yaml"), text, keys).map(|s| (s.line, s.col, s.len));
        assert_eq!(at(&["network", "availability_zones", "1"]), Some((3, 30, 4)));
        assert_eq!(at(&["database", "engine"]), Some((5, 11, 9)));
        // `instance_class` is not written: the section's key is the place.
        assert_eq!(at(&["database", "instance_class"]), Some((4, 1, 8)));
        assert_eq!(locate(Path::new("f.yaml"), "a: [", &["a"]), None);
    }
}

/// An IPv4 CIDR as the file writes it (`10.0.0.0/16`); `None` when it is not one.
pub fn parse_cidr(text: &str) -> Option<Cidr> {
    cidr::parse(text).ok()
}
