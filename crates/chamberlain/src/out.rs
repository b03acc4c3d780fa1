//! Output for people: aligned plain-text tables.

/// Renders rows under headers, columns padded to their widest cell (two spaces apart).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Key/value lines, keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k}:{}{v}\n", " ".repeat(w - k.chars().count() + 2)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let t = table(
            &["A", "LONG HEADER", "C"],
            &[
                vec!["xxxx".into(), "y".into(), "z".into()],
                vec!["é".into(), "".into(), "last".into()],
            ],
        );
        assert_eq!(
            t,
            "A     LONG HEADER  C\nxxxx  y            z\né                  last\n"
        );
        assert_eq!(
            fields(&[("a", "1".into()), ("bbb", "2".into())]),
            "a:    1\nbbb:  2\n"
        );
    }
}
