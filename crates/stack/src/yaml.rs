//! The YAML node tree: yaml-rust2's events turned into nodes that remember where they are.
//!
//! Every node and every mapping key carries a [`Span`] (1-based line and column, width in
//! chars), so that every later check can point at the exact text. Mapping entries keep
//! their file order and duplicates (the typed reader reports those, knowing the key's path).
//! What this layer refuses, collecting one diagnostic each: a second document, merge keys
//! (`<<`), tags other than `!!str`, non-scalar keys, and alias expansion beyond
//! [`MAX_NODES`] nodes (an "alias bomb"). A syntax error stops everything: it is the only
//! diagnostic returned.

use crate::diagnostic::{Diagnostic, Span};
use crate::scalar::{collection_width, resolve_plain, scalar_width};
use std::collections::HashMap;
use std::path::Path;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most nodes a file may hold once its aliases are expanded.
pub const MAX_NODES: usize = 10_000;

/// One YAML value with its place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
    /// A scalar's text as parsed (quotes removed, escapes applied); empty for collections.
    pub raw: String,
    /// True for quoted or block scalars (always strings).
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Key,
    pub value: Node,
}

/// A mapping key: always a scalar, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    /// How many nodes this one is made of (itself included).
    pub fn size(&self) -> usize {
        1 + match &self.kind {
            Kind::Seq(items) => items.iter().map(Node::size).sum(),
            Kind::Map(entries) => entries.iter().map(|e| 1 + e.value.size()).sum(),
            _ => 0,
        }
    }
}

/// Builds the tree of a single-document YAML text.
///
/// `Err` is a syntax error (one diagnostic). `Ok` carries the root (null for an empty file)
/// and the non-fatal problems found while building.
pub fn build(path: &Path, text: &str) -> Result<(Node, Vec<Diagnostic>), Diagnostic> {
    let mut builder = Builder {
        path,
        lines: text.lines().collect(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        nodes: 0,
        bomb_reported: false,
        diags: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let span = builder.point(e.marker(), 1);
        return Err(Diagnostic::at(path, span, format!("invalid yaml: {}", e.info()), "")
            .with_help("fix the syntax here first; the file is checked once it parses"));
    }
    let root =
        builder.root.unwrap_or(Node { kind: Kind::Null, span: Span::new(1, 1, 0), raw: String::new(), quoted: false });
    Ok((root, builder.diags))
}

enum Frame {
    Seq { node: Node, anchor: usize, items: Vec<Node> },
    Map { node: Node, anchor: usize, entries: Vec<Entry>, key: Option<Option<Key>> },
}

struct Builder<'a> {
    path: &'a Path,
    lines: Vec<&'a str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    bomb_reported: bool,
    diags: Vec<Diagnostic>,
}

impl Builder<'_> {
    /// Converts a yaml-rust2 marker (1-based line, 0-based column) to a span.
    fn point(&self, mark: &Marker, len: usize) -> Span {
        Span::new(mark.line(), mark.col() + 1, len)
    }

    fn line(&self, mark: &Marker) -> &str {
        self.lines.get(mark.line().wrapping_sub(1)).copied().unwrap_or("")
    }

    fn error(&mut self, span: Span, message: String, label: &str, help: &str) {
        let mut d = Diagnostic::at(self.path, span, message, label);
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.diags.push(d);
    }

    /// Rejects tags, except `!!str` which makes a plain scalar a string.
    fn check_tag(&mut self, tag: &Option<Tag>, span: Span) -> bool {
        let Some(tag) = tag else { return false };
        let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
        if core && tag.suffix == "str" {
            return true;
        }
        let shown = if core { format!("!!{}", tag.suffix) } else { format!("{}{}", tag.handle, tag.suffix) };
        self.error(
            span,
            format!("yaml tag `{shown}` is not supported"),
            "remove this tag",
            "stack files are plain YAML: only `!!str` (force a string) is accepted",
        );
        false
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        self.nodes += 1;
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { key, entries, .. }) => match key.take() {
                Some(Some(k)) => entries.push(Entry { key: k, value: node }),
                Some(None) => {}
                None => {
                    let k = self.key_of(node);
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(k);
                    }
                }
            },
        }
    }

    /// A node in key position becomes a [`Key`], or `None` (with a diagnostic) if unusable.
    fn key_of(&mut self, node: Node) -> Option<Key> {
        if matches!(node.kind, Kind::Seq(_) | Kind::Map(_)) {
            self.error(node.span, "a mapping key must be a plain name".into(), "not a name", "");
            return None;
        }
        if node.raw == "<<" && !node.quoted {
            self.error(
                node.span,
                "merge keys (`<<`) are not supported".into(),
                "merge key",
                "write the keys out; an alias (`*name`) may still stand for a whole value",
            );
            return None;
        }
        Some(Key { name: node.raw, span: node.span })
    }

    fn alias(&mut self, id: usize, mark: Marker) {
        let span = self.point(&mark, collection_width(self.line(&mark), mark.col()).max(1));
        let node = match self.anchors.get(&id) {
            Some(target) if self.nodes + target.size() > MAX_NODES => {
                if !std::mem::replace(&mut self.bomb_reported, true) {
                    self.error(
                        span,
                        format!("aliases expand this file beyond {MAX_NODES} nodes"),
                        "expanding this alias goes over the limit",
                        "a stack file has no need for nested aliases; write the values out",
                    );
                }
                Node { kind: Kind::Null, span, raw: String::new(), quoted: false }
            }
            Some(target) => {
                let mut node = target.clone();
                self.nodes += node.size() - 1;
                node.span = span;
                node
            }
            None => {
                self.error(span, "this alias refers to the node that contains it".into(), "recursive alias", "");
                Node { kind: Kind::Null, span, raw: String::new(), quoted: false }
            }
        };
        self.complete(node, 0);
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if let Event::DocumentStart = ev {
            self.documents += 1;
            if self.documents == 2 {
                let span = self.point(&mark, 3);
                self.error(
                    span,
                    "a stack file holds one yaml document; a second one starts here".into(),
                    "second document",
                    "remove this `---` and what follows, or move it into the first document",
                );
            }
            return;
        }
        if self.documents > 1 {
            return;
        }
        let is_seq = matches!(ev, Event::SequenceStart(..));
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let len = scalar_width(self.line(&mark), mark.col(), style, &value);
                let span = self.point(&mark, len);
                let force_str = self.check_tag(&tag, span);
                let quoted = style != TScalarStyle::Plain;
                let kind = if quoted || force_str { Kind::Str(value.clone()) } else { resolve_plain(&value) };
                self.complete(Node { kind, span, raw: value, quoted }, anchor);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let span = self.point(&mark, collection_width(self.line(&mark), mark.col()));
                self.check_tag(&tag, span);
                let node = Node { kind: Kind::Null, span, raw: String::new(), quoted: false };
                self.stack.push(if is_seq {
                    Frame::Seq { node, anchor, items: Vec::new() }
                } else {
                    Frame::Map { node, anchor, entries: Vec::new(), key: None }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { mut node, anchor, items }) => {
                    node.kind = Kind::Seq(items);
                    self.complete(node, anchor);
                }
                Some(Frame::Map { mut node, anchor, entries, .. }) => {
                    node.kind = Kind::Map(entries);
                    self.complete(node, anchor);
                }
                None => {}
            },
            Event::Alias(id) => self.alias(id, mark),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Node, Vec<Diagnostic>) {
        build(Path::new("t.yaml"), text).expect("parses")
    }

    fn entries(node: &Node) -> &[Entry] {
        match &node.kind {
            Kind::Map(e) => e,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn marker_columns_are_zero_based_and_spans_one_based() {
        // yaml-rust2 documents `Marker::col` as 1-indexed, but it counts from 0.
        let mut parser = Parser::new_from_str("a: b\nregion: x\n");
        let mut marks = Vec::new();
        while let Ok((ev, mark)) = parser.next_token() {
            if let Event::Scalar(v, ..) = &ev {
                marks.push((v.clone(), mark.line(), mark.col()));
            }
            if ev == Event::StreamEnd {
                break;
            }
        }
        assert_eq!(marks[2], ("region".to_string(), 2, 0));
        let (root, _) = tree("a: b\nregion:   \"x y\"\n");
        let e = entries(&root);
        assert_eq!(e[1].key.span, Span::new(2, 1, 6));
        assert_eq!(e[1].value.span, Span::new(2, 11, 5));
        assert_eq!(e[1].value.kind, Kind::Str("x y".into()));
    }

    #[test]
    fn nested_locations_and_scalar_kinds() {
        let (root, diags) = tree("net:\n  cidr: 10.0.0.0/16\n  azs: [a, 2, true, ~]\n  n: 8.0\n");
        assert!(diags.is_empty());
        let net = &entries(&root)[0].value;
        let e = entries(net);
        assert_eq!(e[0].key.span, Span::new(2, 3, 4));
        assert_eq!(e[1].value.span, Span::new(3, 8, 15));
        let Kind::Seq(items) = &e[1].value.kind else { panic!() };
        assert_eq!(items[1].kind, Kind::Int(2));
        assert_eq!(items[2].kind, Kind::Bool(true));
        assert_eq!(items[3].kind, Kind::Null);
        assert_eq!(e[2].value.raw, "8.0");
    }

    #[test]
    fn refusals() {
        let (_, d) = tree("a: &x {b: 1}\nc:\n  <<: *x\n");
        assert!(d[0].message.contains("merge keys"));
        assert_eq!((d[0].line, d[0].column), (3, 3));
        let (_, d) = tree("a: 1\n---\nb: 2\n");
        assert!(d[0].message.contains("one yaml document"));
        assert_eq!(d[0].line, 2);
        let (_, d) = tree("a: !Ref x\nb: !!str 8000\n");
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("`!Ref`"));
        let err = build(Path::new("t"), "a: [1, 2\nb: c: d\n").unwrap_err();
        assert!(err.message.starts_with("invalid yaml"));
    }

    #[test]
    fn aliases_expand_but_bombs_stop() {
        let (root, d) = tree("a: &x [1, 2]\nb: *x\n");
        assert!(d.is_empty());
        let e = entries(&root);
        assert_eq!(e[1].value.kind, e[0].value.kind);
        assert_eq!(e[1].value.span.line, 2);
        let mut bomb = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            bomb.push_str(&format!(
                "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
            ));
        }
        let (_, d) = tree(&bomb);
        assert!(!d.is_empty());
        assert!(d[0].message.contains("10000 nodes"));
    }
}
