//! A kind's schema: its attributes, declared once, with what a change of each needs,
//! whether its value is a secret and how two values are compared. The planner derives
//! everything else from it: which changes force a replacement, which values are shown
//! as `(sensitive)`, when two values mean the same. Providers build their `desired` and
//! `read` attributes with exactly these names (a test holds them to it).

use super::Kind;
use serde_json::Value;

/// What changing an attribute takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// The provider's `update` changes it in place.
    Update,
    /// It cannot change in place: the resource is replaced.
    Replace,
}

/// How the file's value and AWS's are compared.
#[derive(Debug, Clone, Copy)]
pub enum Compare {
    /// Equal JSON (absent and `null` are the same).
    Exact,
    /// Lists whose order and repeats carry no meaning.
    Set,
    /// Equal once both are put in this canonical form (policies by meaning).
    Normalized(fn(&Value) -> Value),
}

/// One attribute of a kind.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub on_change: OnChange,
    /// Never shown: `(sensitive)` in plans and their JSON.
    pub sensitive: bool,
    pub compare: Compare,
}

impl AttrSpec {
    /// An attribute `update` changes in place, compared exactly.
    pub const fn update(name: &'static str) -> AttrSpec {
        AttrSpec { name, on_change: OnChange::Update, sensitive: false, compare: Compare::Exact }
    }

    /// An attribute whose change replaces the resource, compared exactly.
    pub const fn replace(name: &'static str) -> AttrSpec {
        AttrSpec { name, on_change: OnChange::Replace, sensitive: false, compare: Compare::Exact }
    }

    pub const fn sensitive(self) -> AttrSpec {
        AttrSpec { sensitive: true, ..self }
    }

    /// Compared as a set (order and repeats do not matter).
    pub const fn set(self) -> AttrSpec {
        AttrSpec { compare: Compare::Set, ..self }
    }

    /// Compared in the canonical form `f` gives.
    pub const fn normalized(self, f: fn(&Value) -> Value) -> AttrSpec {
        AttrSpec { compare: Compare::Normalized(f), ..self }
    }

    /// Whether `a` and `b` mean the same for this attribute (`None` is absent or null).
    pub fn same(&self, a: Option<&Value>, b: Option<&Value>) -> bool {
        let a = a.filter(|v| !v.is_null());
        let b = b.filter(|v| !v.is_null());
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => match self.compare {
                Compare::Exact => a == b,
                Compare::Set => as_set(a) == as_set(b),
                Compare::Normalized(f) => f(a) == f(b),
            },
            _ => false,
        }
    }
}

/// A list as a sorted list without repeats (anything else as it is).
fn as_set(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<&Value> = items.iter().collect();
            items.sort_by_cached_key(|i| i.to_string());
            items.dedup();
            Value::Array(items.into_iter().cloned().collect())
        }
        other => other.clone(),
    }
}

/// Everything the engine knows of one kind.
#[derive(Debug)]
pub struct Schema {
    pub kind: Kind,
    /// Plan order: lower layers are listed (and usually created) first. Execution
    /// follows the dependency graph, not layers.
    pub layer: u8,
    pub attrs: &'static [AttrSpec],
    /// Kinds whose resources must be gone before one of this kind can be deleted, for
    /// dependencies AWS enforces that no attribute shows (a gateway cannot be detached
    /// while load balancers and instances hold public addresses in its VPC).
    pub deleted_after: &'static [Kind],
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The attribute names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attrs.iter().map(|a| a.name)
    }

    /// A change of `name` replaces the resource. An attribute the schema does not
    /// declare is taken to need a replacement, so a plan never promises an in-place
    /// change that `update` does not know.
    pub fn forces_replacement(&self, name: &str) -> bool {
        self.attr(name).is_none_or(|a| a.on_change == OnChange::Replace)
    }

    pub fn is_sensitive(&self, name: &str) -> bool {
        self.attr(name).is_some_and(|a| a.sensitive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lower(v: &Value) -> Value {
        json!(v.as_str().map(str::to_lowercase))
    }

    #[test]
    fn values_compare_as_the_attribute_says() {
        let exact = AttrSpec::update("a");
        assert!(exact.same(None, Some(&Value::Null)));
        assert!(!exact.same(Some(&json!([1, 2])), Some(&json!([2, 1]))));
        let set = AttrSpec::update("a").set();
        assert!(set.same(Some(&json!([1, 2, 2])), Some(&json!([2, 1]))));
        assert!(!set.same(Some(&json!([1])), None));
        let norm = AttrSpec::update("a").normalized(lower);
        assert!(norm.same(Some(&json!("SUN:18:00")), Some(&json!("sun:18:00"))));
    }

    #[test]
    fn undeclared_attributes_replace_rather_than_promise_an_update() {
        static S: Schema = Schema {
            kind: Kind::Bucket,
            layer: 0,
            attrs: &[AttrSpec::replace("name"), AttrSpec::update("tags"), AttrSpec::update("p").sensitive()],
            deleted_after: &[],
        };
        assert!(S.forces_replacement("name") && !S.forces_replacement("tags") && S.forces_replacement("other"));
        assert!(S.is_sensitive("p") && !S.is_sensitive("tags"));
        assert_eq!(S.names().collect::<Vec<_>>(), ["name", "tags", "p"]);
    }
}
