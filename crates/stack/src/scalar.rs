//! Scalars: what a plain YAML scalar means, and how wide any node is in the source.
//!
//! Plain scalars follow the YAML 1.2 core schema: `~`, `null` or nothing is null;
//! `true`/`false` are booleans; decimal, `0o` octal and `0x` hex whole numbers are integers;
//! decimal/exponent numbers, `.inf` and `.nan` are floats; everything else is a string (so
//! `yes`, `on` and `00:30` stay strings, unlike YAML 1.1). Quoted scalars are always
//! strings. Widths are measured on the source line so diagnostics underline exactly what
//! was written, quotes included.

use crate::yaml::Kind;
use yaml_rust2::scanner::TScalarStyle;

/// The core-schema value of a plain (unquoted) scalar.
pub fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Kind::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if is_digits(oct, 8) {
            if let Ok(n) = i64::from_str_radix(oct, 8) {
                return Kind::Int(n);
            }
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if is_digits(hex, 16) {
            if let Ok(n) = i64::from_str_radix(hex, 16) {
                return Kind::Int(n);
            }
        }
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if is_digits(unsigned, 10) {
        return match text.parse::<i64>() {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Float(text.parse().unwrap_or(f64::INFINITY)),
        };
    }
    if is_float(unsigned) {
        if let Ok(f) = text.parse::<f64>() {
            return Kind::Float(f);
        }
    }
    Kind::Str(text.to_string())
}

fn is_digits(s: &str, radix: u32) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_digit(radix))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => is_digits(frac, 10),
        Some((int, frac)) => is_digits(int, 10) && (frac.is_empty() || is_digits(frac, 10)),
        None => is_digits(mantissa, 10),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => is_digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10),
    };
    mantissa_ok && exponent_ok
}

/// Width in chars of a scalar that starts at `col0` (0-based) of `line`.
pub fn scalar_width(line: &str, col0: usize, style: TScalarStyle, value: &str) -> usize {
    let rest: Vec<char> = line.chars().skip(col0).collect();
    match style {
        TScalarStyle::Plain if value.is_empty() => 0,
        TScalarStyle::Plain if !value.contains('\n') => value.chars().count().min(rest_width(&rest).max(1)),
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
            let quote = rest.first().copied().unwrap_or('"');
            let mut i = 1;
            while i < rest.len() {
                match rest[i] {
                    '\\' if quote == '"' => i += 2,
                    '\'' if quote == '\'' && rest.get(i + 1) == Some(&'\'') => i += 2,
                    c if c == quote => return i + 1,
                    _ => i += 1,
                }
            }
            rest_width(&rest)
        }
        _ => rest_width(&rest),
    }
}

/// Width in chars of a collection that starts at `col0`: a flow collection up to its
/// closing bracket when that is on the same line, otherwise the rest of the line.
pub fn collection_width(line: &str, col0: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(col0).collect();
    if matches!(rest.first(), Some('[' | '{')) {
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        for (i, &c) in rest.iter().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '[' | '{') => depth += 1,
                (None, ']' | '}') => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
    }
    rest_width(&rest)
}

/// The rest of a line, without a trailing comment or whitespace.
fn rest_width(rest: &[char]) -> usize {
    let mut end = rest.len();
    for i in 0..rest.len() {
        if rest[i] == '#' && (i == 0 || rest[i - 1].is_whitespace()) {
            end = i;
            break;
        }
    }
    while end > 0 && rest[end - 1].is_whitespace() {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert!(matches!(resolve_plain("~"), Kind::Null));
        assert!(matches!(resolve_plain(""), Kind::Null));
        assert!(matches!(resolve_plain("true"), Kind::Bool(true)));
        assert!(matches!(resolve_plain("yes"), Kind::Str(_)));
        assert!(matches!(resolve_plain("8000"), Kind::Int(8000)));
        assert!(matches!(resolve_plain("-3"), Kind::Int(-3)));
        assert!(matches!(resolve_plain("0x1f"), Kind::Int(31)));
        assert!(matches!(resolve_plain("0o17"), Kind::Int(15)));
        assert!(matches!(resolve_plain("8.0"), Kind::Float(f) if f == 8.0));
        assert!(matches!(resolve_plain("1e3"), Kind::Float(f) if f == 1000.0));
        assert!(matches!(resolve_plain(".5"), Kind::Float(f) if f == 0.5));
        assert!(matches!(resolve_plain("10.0.0.0/16"), Kind::Str(_)));
        assert!(matches!(resolve_plain("00:00-00:30"), Kind::Str(_)));
        assert!(matches!(resolve_plain("1h30m"), Kind::Str(_)));
        assert!(matches!(resolve_plain("e3"), Kind::Str(_)));
        assert!(matches!(resolve_plain("99999999999999999999"), Kind::Float(_)));
    }

    #[test]
    fn widths() {
        let line = r#"  name: "a\"b" # note"#;
        assert_eq!(scalar_width(line, 8, TScalarStyle::DoubleQuoted, "a\"b"), 6);
        assert_eq!(scalar_width("k: 'it''s'", 3, TScalarStyle::SingleQuoted, "it's"), 7);
        assert_eq!(scalar_width("k: abc # c", 3, TScalarStyle::Plain, "abc"), 3);
        assert_eq!(scalar_width("k: |  # c", 3, TScalarStyle::Literal, "x\n"), 1);
        assert_eq!(collection_width("k: [a, ']', {b: c}] # x", 3), 16);
        assert_eq!(collection_width("- a: b  # x", 0), 6);
    }
}
