//! Terminal text: lines wrapped to a width without breaking words.

/// `line` as lines of at most `width` columns (a new line, then the text), broken at `sep`
/// ("; " between a step's effects, " " between words) where it can be, continuation lines
/// indented by `indent`.
pub fn wrap(line: &str, sep: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut current = String::new();
    for (i, part) in line.split(sep).enumerate() {
        let len = current.chars().count() + sep.chars().count() + part.chars().count();
        if i == 0 {
            current.push_str(part);
        } else if len > width && current.trim().chars().count() > 0 {
            out.push('\n');
            out.push_str(&current);
            out.push_str(sep.trim_end());
            current = format!("{}{part}", " ".repeat(indent));
        } else {
            current.push_str(sep);
            current.push_str(part);
        }
    }
    out.push('\n');
    out.push_str(&current);
    out
}

/// The longest word of `s`, in characters.
pub fn longest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
}

/// Fit `t` into `width` columns without ever breaking a word: each column at least as wide as
/// the longest word of its header and cells; cells wrap between words when the table would
/// be wider.
pub fn fit_words(t: &mut comfy_table::Table, width: u16) {
    use comfy_table::{ColumnConstraint, ContentArrangement, Width};
    let mut longest: Vec<usize> = Vec::new();
    for row in t.header().into_iter().chain(t.row_iter()) {
        for (i, cell) in row.cell_iter().enumerate() {
            if longest.len() <= i {
                longest.resize(i + 1, 0);
            }
            longest[i] = longest[i].max(longest_word(&cell.content()));
        }
    }
    t.set_width(width);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    for (i, w) in longest.iter().enumerate() {
        if let Some(col) = t.column_mut(i) {
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(*w as u16 + 2)));
        }
    }
}
