//! The stack file's shape, declared once: every mapping's keys, each value's type (with its
//! range or its words), default and description.
//!
//! The reader takes its key lists, ranges, choices, required keys and simple defaults
//! from these tables ([`Map::shaped`](crate::reader::Map::shaped) and the getters that
//! look a key up in its mapping's shape), and [`crate::schema::json_schema`] walks the same
//! tables into a JSON Schema; the two cannot disagree about them. What a table cannot say
//! (cross-section references, names that must resolve, windows that must not overlap)
//! stays in the section readers.

/// What a value may be.
#[derive(Debug)]
pub enum Ty {
    /// A string, strictly (a number or a boolean is a type error).
    Str,
    /// A string that also matches a pattern (the reader checks it with its own rule and
    /// message; the pattern is what editors check).
    Pattern(&'static str),
    /// Free text: any scalar, kept as written (`1234` is the text "1234").
    Text,
    /// A whole number from `.0` to `.1` (`u64::MAX`: no upper bound).
    Int(u64, u64),
    /// One of these whole numbers.
    IntOneOf(&'static [u64]),
    /// A number from `.0` to `.1`.
    Num(f64, f64),
    Bool,
    /// `true` and nothing else.
    True,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Exactly this word.
    Word(&'static str),
    /// `90s`, `15m`, `1h30m`, or a whole number of seconds; 1 s to 24 h.
    Duration,
    /// A list of values of one type.
    List(&'static Ty),
    /// Free keys (names) matching `keys` when given, each to a value of one type.
    MapOf(Option<&'static str>, &'static Ty),
    /// A mapping of known keys.
    Obj(&'static Shape),
    /// Any of these forms.
    AnyOf(&'static [Ty]),
    /// Anything at all (the values of raw IAM statements).
    Any,
    /// `environments:`: environment name → its own keys ([`Shape`] given) and overrides
    /// of every top-level section.
    Environments(&'static Shape),
}

/// A default, as the schema states it.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    None,
    Int(u64),
    Num(f64),
    Bool(bool),
    Str(&'static str),
}

/// One key of a mapping.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub default: DefaultValue,
    pub doc: &'static str,
}

impl Field {
    pub const fn req(self) -> Field {
        Field { required: true, ..self }
    }
    pub const fn int(self, d: u64) -> Field {
        Field { default: DefaultValue::Int(d), ..self }
    }
    pub const fn num(self, d: f64) -> Field {
        Field { default: DefaultValue::Num(d), ..self }
    }
    pub const fn bool(self, d: bool) -> Field {
        Field { default: DefaultValue::Bool(d), ..self }
    }
    pub const fn str(self, d: &'static str) -> Field {
        Field { default: DefaultValue::Str(d), ..self }
    }
}

/// A key: its name, type and description (optional, no default until said).
pub const fn key(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field { name, ty, required: false, default: DefaultValue::None, doc }
}

/// A mapping of known keys (any other is an error).
#[derive(Debug)]
pub struct Shape {
    /// The name of its definition in the schema.
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
    /// Exactly one of the keys is written (`password: {managed: ...}` or `{secret_arn: ...}`).
    pub exactly_one: bool,
}

impl Shape {
    pub const fn new(name: &'static str, doc: &'static str, fields: &'static [Field]) -> Shape {
        Shape { name, doc, fields, exactly_one: false }
    }
    pub const fn one_key(self) -> Shape {
        Shape { exactly_one: true, ..self }
    }

    /// The keys, in declaration order.
    pub fn keys(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.name).collect()
    }

    /// The field `key`; a key the shape does not declare is a bug in the reader.
    pub fn field(&self, key: &str) -> &'static Field {
        let fields: &'static [Field] = self.fields;
        match fields.iter().find(|f| f.name == key) {
            Some(f) => f,
            None => panic!("the shape `{}` declares no key `{key}`", self.name),
        }
    }

    /// The required keys, in declaration order.
    pub fn required(&self) -> impl Iterator<Item = &'static str> + '_ {
        let fields: &'static [Field] = self.fields;
        fields.iter().filter(|f| f.required).map(|f| f.name)
    }
}

/// A whole number's range from its declaration.
pub(crate) fn int_range(shape: &Shape, key: &str) -> (u64, u64) {
    match shape.field(key).ty {
        Ty::Int(lo, hi) => (lo, hi),
        Ty::IntOneOf(values) => (values.iter().copied().min().unwrap_or(0), values.iter().copied().max().unwrap_or(0)),
        ref other => panic!("`{key}` in `{}` is declared {other:?}, not a whole number", shape.name),
    }
}

/// A number's range from its declaration.
pub(crate) fn num_range(shape: &Shape, key: &str) -> (f64, f64) {
    match shape.field(key).ty {
        Ty::Num(lo, hi) => (lo, hi),
        ref other => panic!("`{key}` in `{}` is declared {other:?}, not a number", shape.name),
    }
}

/// A choice's words from its declaration.
pub(crate) fn words(shape: &Shape, key: &str) -> &'static [&'static str] {
    match shape.field(key).ty {
        Ty::Enum(words) => words,
        ref other => panic!("`{key}` in `{}` is declared {other:?}, not a choice of words", shape.name),
    }
}

/// The declared default of `key`, for the readers' `.or(...)`.
pub(crate) fn default_int(shape: &Shape, key: &str) -> u64 {
    match shape.field(key).default {
        DefaultValue::Int(d) => d,
        other => panic!("`{key}` in `{}` has the default {other:?}, not a whole number", shape.name),
    }
}

pub(crate) fn default_num(shape: &Shape, key: &str) -> f64 {
    match shape.field(key).default {
        DefaultValue::Num(d) => d,
        DefaultValue::Int(d) => d as f64,
        other => panic!("`{key}` in `{}` has the default {other:?}, not a number", shape.name),
    }
}

pub(crate) fn default_bool(shape: &Shape, key: &str) -> bool {
    match shape.field(key).default {
        DefaultValue::Bool(d) => d,
        other => panic!("`{key}` in `{}` has the default {other:?}, not a boolean", shape.name),
    }
}

pub(crate) fn default_str(shape: &Shape, key: &str) -> &'static str {
    match shape.field(key).default {
        DefaultValue::Str(d) => d,
        other => panic!("`{key}` in `{}` has the default {other:?}, not a string", shape.name),
    }
}

/// Durations are declared by their default's seconds.
pub(crate) fn default_duration(shape: &Shape, key: &str) -> u64 {
    match (&shape.field(key).ty, shape.field(key).default) {
        (Ty::Duration, DefaultValue::Str(text)) => match crate::time::parse_duration(text) {
            Some(seconds) => seconds,
            None => panic!("`{key}` in `{}` has the default `{text}`, not a duration", shape.name),
        },
        (ty, d) => panic!("`{key}` in `{}` is {ty:?} with default {d:?}, not a duration with one", shape.name),
    }
}
