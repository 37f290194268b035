//! Text a plugin controls, made harmless before the host keeps or shows it.
//!
//! A plugin's strings end up in terminal tables, `results.csv`, logs and the review screen of
//! `livelab check`. Characters that a terminal or a viewer acts on instead of showing (ANSI
//! escapes, other control characters, bidirectional overrides, zero-width and other format
//! characters, line separators) could rewrite other rows, set the terminal title or make text
//! read differently from what it is. The host refuses them where a plugin declares itself
//! (`describe`) and escapes them where a plugin reports something (error messages).

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Whether `c` is acted on or invisible rather than shown: control (Cc), format (Cf, which
/// holds the bidirectional controls and zero-width characters), line and paragraph
/// separators, private use, surrogates and unassigned code points.
pub fn is_hidden(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// `text` with every [hidden](is_hidden) character written as `\u{…}`, and `\` as `\\` so that
/// an escape in the output always means the host wrote it. Borrowed when nothing changes.
pub fn escape_hidden(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || is_hidden(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_hidden(c) {
            write!(out, "\\u{{{:x}}}", c as u32).expect("writing to a String");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The first [hidden](is_hidden) character of `text`: its position (in characters) and
/// itself, for an error that says where.
pub fn first_hidden(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| is_hidden(*c))
}

/// The UTF-8 byte-order mark, which Windows tools write at the start of a text file.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading [byte-order mark](BOM). JSON forbids one, but exports from
/// Windows tools often start with it: it says nothing about the data, so readers drop it.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_escaped_and_the_rest_kept() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            (
                "eGFR < 30 mL/min/1.73 m²: stop metformine",
                "eGFR < 30 mL/min/1.73 m²: stop metformine",
            ),
            (
                "\u{1b}[2J\u{1b}]0;owned\u{7}",
                "\\u{1b}[2J\\u{1b}]0;owned\\u{7}",
            ),
            ("line\nbreak\ttab\r", "line\\u{a}break\\u{9}tab\\u{d}"),
            ("\u{202e}txt.exe", "\\u{202e}txt.exe"),
            (
                "zero\u{200b}width\u{2066}isolate",
                "zero\\u{200b}width\\u{2066}isolate",
            ),
            ("sep\u{2028}par\u{2029}", "sep\\u{2028}par\\u{2029}"),
            ("private\u{e000}", "private\\u{e000}"),
            ("a \\u{1b} in the text", "a \\\\u{1b} in the text"),
            ("\u{7f}del \u{85}nel", "\\u{7f}del \\u{85}nel"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_hidden(input), *want, "input {input:?}");
        }
        assert!(matches!(escape_hidden("ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_first_hidden_character_is_located() {
        assert_eq!(first_hidden("name\u{1b}[31m"), Some((4, '\u{1b}')));
        assert_eq!(first_hidden("Médicament ok"), None);
    }
}
