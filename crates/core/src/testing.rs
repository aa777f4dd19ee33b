//! What the core's tests share: kind rules with a schema per kind, made for tests.

use crate::engine::{Addr, AttrSpec, Kind, Schema};
use crate::plan::KindRules;
use std::collections::BTreeMap;

/// Every test attribute updates in place but `name`, which replaces; `password` is a
/// secret.
const ATTRS: &[AttrSpec] = &[
    AttrSpec::replace("name"),
    AttrSpec::update("a"),
    AttrSpec::update("lifecycle"),
    AttrSpec::update("versioning"),
    AttrSpec::update("policy"),
    AttrSpec::update("tags"),
    AttrSpec::update("password").sensitive(),
];

/// Rules for tests: the schema of every kind has [`ATTRS`]; layers as `layer` says;
/// `references` as given.
pub struct Rules {
    schemas: Vec<Schema>,
    pub references: BTreeMap<String, usize>,
    /// Addresses the file's `adopt:` lists.
    pub adopt: Vec<Addr>,
    /// Of those, the ones whose entry says `replace: true`.
    pub adopt_replacing: Vec<Addr>,
}

impl Rules {
    pub fn new(layer: fn(Kind) -> u8) -> Rules {
        Rules::with(layer, |_| &[])
    }

    /// With the kinds each kind's deletes must wait for.
    pub fn with(layer: fn(Kind) -> u8, deleted_after: fn(Kind) -> &'static [Kind]) -> Rules {
        let schemas = Kind::ALL
            .iter()
            .map(|&kind| Schema { kind, layer: layer(kind), attrs: ATTRS, deleted_after: deleted_after(kind) })
            .collect();
        Rules { schemas, references: BTreeMap::new(), adopt: Vec::new(), adopt_replacing: Vec::new() }
    }
}

impl KindRules for Rules {
    fn schema(&self, kind: Kind) -> &Schema {
        self.schemas.iter().find(|s| s.kind == kind).expect("a schema per kind")
    }
    fn references(&self, id: &str) -> usize {
        self.references.get(id).copied().unwrap_or(0)
    }
    fn adopts(&self, addr: &Addr) -> bool {
        self.adopt.contains(addr)
    }
    fn adopt_replaces(&self, addr: &Addr) -> bool {
        self.adopt_replacing.contains(addr)
    }
}

/// An address from its text (tests write real kinds).
pub fn addr(text: &str) -> Addr {
    Addr::parse(text).unwrap_or_else(|e| panic!("{e}"))
}
