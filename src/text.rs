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
