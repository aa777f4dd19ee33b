//! `adopt:` – resources made outside bumarket-infra (in the console, by a script) that the
//! stack takes over without recreating them: each entry is a resource's address, as plans
//! write it (`bucket.images`, `vpc.main`), and the live resource's id or name
//! (`vpc-0abc…`, `bumarket-images`).
//!
//! An entry may instead be a mapping: `id` (the same id or name), and the immutable
//! settings the file's sections cannot express that the live resource keeps: `name` (its
//! physical name, when it is not the one bumarket-infra would give it: a console-made
//! security group's, a load balancer's) and `description` (a security group's). The entry
//! stays in the file once adopted: it is where those names live. `replace: true` is the
//! per-resource opt-in to an adoption that replaces the resource (where the file differs
//! in what AWS cannot change in place); without it the plan refuses such an adoption.
//!
//! Adoption is said per resource, never implied: a live resource without the stack's tag
//! that holds a name the file wants stays a conflict unless its address is listed here.
//! Whether the address is one the file makes, and whether the live resource fits, is
//! checked at plan time (the file alone cannot tell); here only the shape is.

use crate::model::Adoption;
use crate::reader::{text, Ctx, Map, Val};
use crate::shape::{key as field, Shape, Ty};
use crate::yaml::Kind;
use std::collections::BTreeMap;

/// A resource address as plans write it: `<kind>.<name>`.
pub(crate) const ADDRESS: &str = "^[a-z_]+\\..+$";

pub(crate) static ENTRY: Shape = Shape::new(
    "adoption",
    "A resource to adopt, with what it keeps that the sections cannot say.",
    &[
        field("id", Ty::Text, "The live resource's id or name.").req(),
        field("name", Ty::Text, "Its physical name, when it is not the one bumarket-infra would give it."),
        field("description", Ty::Text, "Its description (a security group's)."),
        field("replace", Ty::Bool, "Adopt even where the plan must replace the resource.").bool(false),
    ],
);

/// Reads `adopt:` (address → what to adopt).
pub(crate) fn read(cx: &mut Ctx, top: &Map) -> BTreeMap<String, Adoption> {
    let mut out = BTreeMap::new();
    let Some(entry) = top.entry("adopt") else { return out };
    let map = Map::open(cx, &entry.value, "adopt", entry.key.span, None);
    for e in map.entries {
        let key = &e.key.name;
        let shaped = key.split_once('.').is_some_and(|(kind, name)| {
            !kind.is_empty() && !name.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
        if !shaped {
            let message = format!("`{key}` is not a resource address");
            cx.error_help(
                e.key.span,
                message,
                "expected `<kind>.<name>`",
                "write the address as `plan` shows it, such as `bucket.images` or `vpc.main`".to_string(),
            );
            continue;
        }
        let (id, name, description, replace) = if let Kind::Map(_) = &e.value.kind {
            let m = Map::shaped(cx, &e.value, &format!("adopt.{key}"), e.key.span, &ENTRY);
            m.need_all(cx);
            let id = m.text(cx, "id");
            let replace = m.boolean_or(cx, "replace");
            (id, m.text(cx, "name").get(), m.text(cx, "description").get(), replace)
        } else {
            (text(cx, &e.value, &map.what(key)), None, None, false)
        };
        if let Val::Got(id, span) = id {
            if id.trim().is_empty() {
                cx.error(span, format!("`adopt.{key}` is empty"), "expected the live resource's id or name");
                continue;
            }
            out.insert(key.clone(), Adoption { id, name, description, replace });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn entries_are_addresses_with_a_live_id_or_name() {
        let text = "stack: s\nregion: ap-northeast-2\nadopt:\n  vpc.main: vpc-0abc\n  bucket.images: s-images\n  security_group.db: {id: sg-1, name: db-sg, description: Oracle}\n";
        let adopt = crate::parse(Path::new("t.yaml"), text).unwrap().adopt;
        assert_eq!(adopt["vpc.main"].id, "vpc-0abc");
        assert_eq!(adopt["bucket.images"].id, "s-images");
        assert!(!adopt["vpc.main"].replace);
        let sg = &adopt["security_group.db"];
        assert_eq!(
            (sg.id.as_str(), sg.name.as_deref(), sg.description.as_deref()),
            ("sg-1", Some("db-sg"), Some("Oracle"))
        );
        let replacing = "stack: s\nregion: ap-northeast-2\nadopt:\n  security_group.db: {id: sg-1, replace: true}\n";
        assert!(crate::parse(Path::new("t.yaml"), replacing).unwrap().adopt["security_group.db"].replace);
        let bad = "stack: s\nregion: ap-northeast-2\nadopt:\n  images: s-images\n  vpc.main: ''\n  subnet.a: {name: x, size: 3}\n";
        let e = crate::parse(Path::new("t.yaml"), bad).unwrap_err();
        assert_eq!(e.items.len(), 4, "{e}");
        assert!(e.to_string().contains("unknown key"), "{e}");
        assert!(e.to_string().contains("`id`"), "{e}");
        assert!(e.items[0].message.contains("`images` is not a resource address"), "{e}");
        assert!(e.items[1].message.contains("`adopt.vpc.main` is empty"), "{e}");
    }
}
