//! The typed, collecting reader: turns tree nodes into Rust values, recording every problem.
//!
//! Nothing here stops at the first error. Each getter returns a [`Val`] – absent, bad (a
//! diagnostic was recorded) or a value with its span – and the section readers go on, so a
//! file with ten problems yields ten diagnostics. [`Map`] opens a mapping against the list
//! of keys it may hold (unknown and duplicate keys are reported on opening) and offers the
//! typed getters of `values` by key. A [`Stack`](crate::Stack) is only built when no problem was found,
//! so callers may use defaults in place of bad values without ever handing them out.

use crate::diagnostic::{Diagnostic, Span};
use crate::shape::{self, Shape};
use crate::suggest::{closest, list};
pub use crate::values::{boolean, choice, describe, number, seq, string, text, type_error, uint};
use crate::yaml::{Entry, Kind, Node};
use std::path::PathBuf;

/// Where the problems go, and what every reader needs to know about the file.
pub struct Ctx {
    pub path: PathBuf,
    /// The stack file's directory (for `fleet.user_data`).
    pub dir: PathBuf,
    pub diags: Vec<Diagnostic>,
    /// Spans of secrets written in the file; masked in the text kept for rendering.
    pub secrets: Vec<Span>,
}

impl Ctx {
    pub fn error(&mut self, span: Span, message: impl Into<String>, label: impl Into<String>) {
        self.diags.push(Diagnostic::at(&self.path, span, message, label));
    }

    pub fn error_help(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(Diagnostic::at(&self.path, span, message, label).with_help(help));
    }

    /// Reports `value` not being one of `options`, suggesting the closest.
    pub fn not_one_of(&mut self, span: Span, message: String, value: &str, options: &[&str]) {
        let expected = format!("expected one of {}", list(options.iter().copied()));
        match closest(value, options.iter().copied()) {
            Some(best) => self.error_help(span, message, format!("did you mean `{best}`?"), expected),
            None => self.error(span, message, expected),
        }
    }
}

/// What a getter found.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<T> {
    /// The key is not there (or is null).
    Absent,
    /// The value was wrong; a diagnostic was recorded.
    Bad,
    /// A good value, and where it was written.
    Got(T, Span),
}

impl<T> Val<T> {
    /// The value when there is one.
    pub fn get(self) -> Option<T> {
        match self {
            Val::Got(v, _) => Some(v),
            _ => None,
        }
    }
    /// The value, else `default` (bad values only occur alongside a recorded diagnostic).
    pub fn or(self, default: T) -> T {
        self.get().unwrap_or(default)
    }
    /// For cross-checks: the value or the default, but nothing when the value was bad.
    pub fn checked(self, default: T) -> Option<T> {
        match self {
            Val::Absent => Some(default),
            Val::Bad => None,
            Val::Got(v, _) => Some(v),
        }
    }
    pub fn span(&self) -> Option<Span> {
        match self {
            Val::Got(_, s) => Some(*s),
            _ => None,
        }
    }
}

/// A mapping being read: its dotted path, the span of the key that holds it, its entries,
/// and the [`Shape`] its keys are declared in (none for free keys: names, tags).
pub struct Map<'n> {
    pub path: String,
    pub holder: Span,
    pub entries: &'n [Entry],
    pub shape: Option<&'static Shape>,
}

impl<'n> Map<'n> {
    /// Opens `node` as a mapping that may hold only `keys`; `None` for `keys` accepts any key.
    /// A null node is an empty mapping; any other non-mapping is reported and read as empty.
    pub fn open(cx: &mut Ctx, node: &'n Node, path: &str, holder: Span, keys: Option<&[&str]>) -> Map<'n> {
        let entries: &'n [Entry] = match &node.kind {
            Kind::Map(entries) => entries,
            Kind::Null => &[],
            _ => {
                let name = if path.is_empty() { "the stack file".to_string() } else { format!("`{path}`") };
                let message = format!("wrong type for {name}: expected a mapping, found {}", describe(node));
                cx.error(node.span, message, "expected a mapping (`key: value` lines)");
                &[]
            }
        };
        let map = Map { path: path.to_string(), holder, entries, shape: None };
        for (i, e) in entries.iter().enumerate() {
            if let Some(first) = entries[..i].iter().find(|p| p.key.name == e.key.name) {
                let message = format!("duplicate key {}", map.what(&e.key.name));
                cx.error(e.key.span, message, format!("already set on line {}", first.key.span.line));
            } else if let Some(keys) = keys.filter(|k| !k.contains(&e.key.name.as_str())) {
                map.unknown_key(cx, e, keys);
            }
        }
        map
    }

    /// Opens `node` as a mapping of the keys `shape` declares; the typed getters then take
    /// each key's range, words and default from its declaration.
    pub fn shaped(cx: &mut Ctx, node: &'n Node, path: &str, holder: Span, shape: &'static Shape) -> Map<'n> {
        let keys = shape.keys();
        Map { shape: Some(shape), ..Map::open(cx, node, path, holder, Some(&keys)) }
    }

    /// The shape this mapping is read against; a getter on a free mapping is a bug.
    pub fn decl(&self) -> &'static Shape {
        match self.shape {
            Some(shape) => shape,
            None => panic!("`{}` is read without a shape", self.path),
        }
    }

    /// Checks that the shape declares `key` (a typo in a reader is caught by any test).
    fn declared(&self, key: &str) {
        if let Some(shape) = self.shape {
            shape.field(key);
        }
    }

    fn unknown_key(&self, cx: &mut Ctx, e: &Entry, keys: &[&str]) {
        let message = if self.path.is_empty() {
            format!("unknown top-level key `{}`", e.key.name)
        } else {
            format!("unknown key `{}` in `{}`", e.key.name, self.path)
        };
        match closest(&e.key.name, keys.iter().copied()) {
            Some(best) => cx.error(e.key.span, message, format!("did you mean `{best}`?")),
            None => cx.error_help(
                e.key.span,
                message,
                "unknown key",
                format!("expected one of {}", list(keys.iter().copied())),
            ),
        }
    }

    /// "`key` in `path`", for messages.
    pub fn what(&self, key: &str) -> String {
        if self.path.is_empty() {
            format!("`{key}`")
        } else {
            format!("`{key}` in `{}`", self.path)
        }
    }

    /// The dotted path of a child: `database.backups`.
    pub fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn entry(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key.name == key)
    }

    /// The key's value, unless it is absent or null.
    pub fn node(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|e| &e.value).filter(|n| n.kind != Kind::Null)
    }

    pub fn has(&self, key: &str) -> bool {
        self.node(key).is_some()
    }

    /// Where the key is written, or the holder's span when it is not.
    pub fn key_span(&self, key: &str) -> Span {
        self.entry(key).map_or(self.holder, |e| e.key.span)
    }

    /// Reports a required key that is absent (or null); true when it is there.
    pub fn need(&self, cx: &mut Ctx, key: &str) -> bool {
        if let Some(shape) = self.shape {
            let declared = shape.field(key).required || shape.exactly_one;
            assert!(declared, "`{key}` in `{}` is needed but not declared required", shape.name);
        }
        if self.has(key) {
            return true;
        }
        match self.entry(key) {
            Some(e) => {
                cx.error(e.key.span, format!("missing value for {}", self.what(key)), "a value is required here")
            }
            None if self.path.is_empty() => cx.error(
                self.holder,
                format!("missing required key `{key}`"),
                format!("add `{key}:` to the stack file"),
            ),
            None => cx.error(
                self.holder,
                format!("missing required key `{key}` in `{}`", self.path),
                format!("`{}` needs `{key}`", self.path),
            ),
        }
        false
    }

    fn with<T>(&self, cx: &mut Ctx, key: &str, f: impl FnOnce(&mut Ctx, &'n Node, &str) -> Val<T>) -> Val<T> {
        match self.node(key) {
            Some(node) => f(cx, node, &self.what(key)),
            None => Val::Absent,
        }
    }

    /// Reports every key the shape declares required that is absent, in declaration order;
    /// true when all are there.
    pub fn need_all(&self, cx: &mut Ctx) -> bool {
        let mut all = true;
        for key in self.decl().required() {
            all &= self.need(cx, key);
        }
        all
    }

    /// A whole number in the range its declaration gives.
    pub fn uint(&self, cx: &mut Ctx, key: &str) -> Val<u64> {
        let (lo, hi) = shape::int_range(self.decl(), key);
        self.with(cx, key, |cx, n, w| uint(cx, n, w, lo, hi))
    }
    /// The same, or its declared default.
    pub fn uint_or(&self, cx: &mut Ctx, key: &str) -> u64 {
        let default = shape::default_int(self.decl(), key);
        self.uint(cx, key).or(default)
    }
    /// A number in the range its declaration gives.
    pub fn number(&self, cx: &mut Ctx, key: &str) -> Val<f64> {
        let (lo, hi) = shape::num_range(self.decl(), key);
        self.with(cx, key, |cx, n, w| number(cx, n, w, lo, hi))
    }
    pub fn number_or(&self, cx: &mut Ctx, key: &str) -> f64 {
        let default = shape::default_num(self.decl(), key);
        self.number(cx, key).or(default)
    }
    pub fn boolean(&self, cx: &mut Ctx, key: &str) -> Val<bool> {
        self.declared(key);
        self.with(cx, key, boolean)
    }
    pub fn boolean_or(&self, cx: &mut Ctx, key: &str) -> bool {
        let default = shape::default_bool(self.decl(), key);
        self.boolean(cx, key).or(default)
    }
    pub fn string(&self, cx: &mut Ctx, key: &str) -> Val<String> {
        self.declared(key);
        self.with(cx, key, string)
    }
    pub fn text(&self, cx: &mut Ctx, key: &str) -> Val<String> {
        self.declared(key);
        self.with(cx, key, text)
    }
    /// One of the words its declaration gives.
    pub fn choice(&self, cx: &mut Ctx, key: &str) -> Val<&'static str> {
        let options = shape::words(self.decl(), key);
        self.with(cx, key, |cx, n, w| choice(cx, n, w, options))
    }
    pub fn choice_or(&self, cx: &mut Ctx, key: &str) -> &'static str {
        let default = shape::default_str(self.decl(), key);
        self.choice(cx, key).or(default)
    }
    pub fn duration(&self, cx: &mut Ctx, key: &str) -> Val<u64> {
        self.declared(key);
        self.with(cx, key, crate::time::duration)
    }
    pub fn duration_or(&self, cx: &mut Ctx, key: &str) -> u64 {
        let default = shape::default_duration(self.decl(), key);
        self.duration(cx, key).or(default)
    }
    /// A list's items (empty when absent).
    pub fn seq(&self, cx: &mut Ctx, key: &str) -> &'n [Node] {
        self.declared(key);
        match self.node(key) {
            Some(node) => seq(cx, node, &self.what(key)).unwrap_or(&[]),
            None => &[],
        }
    }
    /// A nested mapping of the keys `shape` declares (empty when absent, so its defaults apply).
    pub fn sub(&self, cx: &mut Ctx, key: &str, shape: &'static Shape) -> Map<'n> {
        self.declared(key);
        match self.entry(key) {
            Some(e) => Map::shaped(cx, &e.value, &self.child(key), e.key.span, shape),
            None => Map { path: self.child(key), holder: self.holder, entries: &[], shape: Some(shape) },
        }
    }
    /// A nested mapping with free keys (names of buckets, roles, ...).
    pub fn sub_any(&self, cx: &mut Ctx, key: &str) -> Map<'n> {
        self.declared(key);
        match self.entry(key) {
            Some(e) => Map::open(cx, &e.value, &self.child(key), e.key.span, None),
            None => Map { path: self.child(key), holder: self.holder, entries: &[], shape: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::shape::{key, Ty};

    static S: Shape = Shape::new(
        "s",
        "a test mapping",
        &[
            key("n", Ty::Int(0, 9), "").int(5),
            key("b", Ty::Bool, ""),
            key("e", Ty::Enum(&["gp3", "gp2"]), ""),
            key("m", Ty::Int(8, 9), ""),
            key("missing", Ty::Int(0, 9), "").req(),
        ],
    );

    fn read(text: &str, f: impl FnOnce(&mut Ctx, &Map)) -> Vec<String> {
        let (root, _) = crate::yaml::build(Path::new("t"), text).unwrap();
        let mut cx = Ctx { path: "t".into(), dir: ".".into(), diags: Vec::new(), secrets: Vec::new() };
        let map = Map::shaped(&mut cx, &root, "s", Span::new(1, 1, 1), &S);
        f(&mut cx, &map);
        cx.diags.iter().map(|d| format!("{}:{} {} | {}", d.line, d.column, d.message, d.label)).collect()
    }

    #[test]
    fn typed_getters_collect_every_problem() {
        let got = read("n: \"8\"\nb: yes\ne: gp4\nx: 1\nn: 2\n", |cx, m| {
            assert_eq!(m.uint(cx, "n"), Val::Bad);
            assert_eq!(m.uint_or(cx, "n"), 5);
            assert_eq!(m.boolean(cx, "b"), Val::Bad);
            assert_eq!(m.choice(cx, "e"), Val::Bad);
            assert_eq!(m.uint(cx, "missing"), Val::Absent);
            assert!(!m.need(cx, "missing"));
        });
        assert_eq!(
            got,
            [
                "4:1 unknown key `x` in `s` | unknown key",
                "5:1 duplicate key `n` in `s` | already set on line 1",
                "1:4 wrong type for `n` in `s`: expected a whole number, found a string `8` | expected a whole number",
                "1:4 wrong type for `n` in `s`: expected a whole number, found a string `8` | expected a whole number",
                "2:4 wrong type for `b` in `s`: expected true or false, found a string `yes` | expected true or false",
                "3:4 invalid value `gp4` for `e` in `s` | did you mean `gp3`?",
                "1:1 missing required key `missing` in `s` | `s` needs `missing`",
            ]
        );
    }

    #[test]
    fn good_values_carry_their_span() {
        let got = read("n: 7\ne: gp2\nm: 7\nmissing: 1\n", |cx, m| {
            assert_eq!(m.uint(cx, "n"), Val::Got(7, Span::new(1, 4, 1)));
            assert_eq!(m.choice(cx, "e").get(), Some("gp2"));
            assert_eq!(m.uint(cx, "m").checked(0), None);
        });
        assert_eq!(got, ["3:4 out-of-range value for `m` in `s` | expected 8 to 9, found 7"]);
    }
}
