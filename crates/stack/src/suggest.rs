//! "Did you mean ...?": the closest known word to a misspelt one, by edit distance.
//!
//! Used for unknown keys, unknown enum values and unknown references. A suggestion is only
//! made when the words are close (a few typos, or the same word in another case), so that a
//! wild guess never misleads; otherwise callers list every expected word instead.

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), in chars.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let d = if candidate.to_lowercase() == lower { 0 } else { distance(&lower, &candidate.to_lowercase()) };
        let longest = candidate.chars().count().max(word.chars().count());
        // One- and two-letter words are too short for a typo to be told from another word.
        let limit = if longest <= 2 { 0 } else { (longest / 3).max(1) };
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// "`a`, `b`, `c`" – a list of names for a message.
pub fn list<'a, I>(names: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    names.into_iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_typos() {
        assert_eq!(distance("retension_days", "retention_days"), 1);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_only_close_words() {
        let keys = ["retention_days", "window"];
        assert_eq!(closest("retension_days", keys), Some("retention_days"));
        assert_eq!(closest("Window", keys), Some("window"));
        assert_eq!(closest("schedule", keys), None);
        assert_eq!(closest("oracle-e", ["oracle-ee", "oracle-se2", "postgres"]), Some("oracle-ee"));
        assert_eq!(list(["a", "b"]), "`a`, `b`");
    }
}
