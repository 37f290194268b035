//! Client-supplied text in messages and logs: cut and escaped before it is quoted.

/// How many characters of client-supplied text an error message may quote.
pub const QUOTE_MAX_CHARS: usize = 64;

/// Renders client-supplied (possibly hostile) text for an error message or a log line.
///
/// Keeps at most `max_chars` characters; keeps printable ASCII except `\` and `"`, and writes
/// everything else (control characters, newlines, non-ASCII — including bidirectional
/// overrides that could disguise a log line) as a `\u{…}` escape; marks a cut with `…`. The
/// result is at most `10 * max_chars + 1` characters whatever the input, so a caller can quote
/// attacker-controlled values without letting them forge or flood logs.
pub fn untrusted_text(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for ch in chars.by_ref().take(max_chars) {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ' '..='~' => out.push(ch),
            other => out.push_str(&format!("\\u{{{:x}}}", other as u32)),
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// [`untrusted_text`] with the default bound, [`QUOTE_MAX_CHARS`].
pub(crate) fn quote(text: &str) -> String {
    untrusted_text(text, QUOTE_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_escapes_and_bounds() {
        let cases: &[(&str, usize, &str)] = &[
            ("plain", 64, "plain"),
            ("", 64, ""),
            ("a\nb", 64, "a\\u{a}b"),
            ("quote\"back\\", 64, "quote\\\"back\\\\"),
            ("\u{202e}evil", 64, "\\u{202e}evil"),
            ("é", 64, "\\u{e9}"),
            ("abcdef", 3, "abc…"),
            ("abc", 3, "abc"),
        ];
        for (input, max, want) in cases {
            assert_eq!(untrusted_text(input, *max), *want, "input {input:?}");
        }
    }

    #[test]
    fn untrusted_text_output_is_bounded_for_any_input() {
        let hostile: String = std::iter::repeat_n('\u{10ffff}', 100_000).collect();
        let shown = untrusted_text(&hostile, QUOTE_MAX_CHARS);
        assert!(shown.chars().count() <= 10 * QUOTE_MAX_CHARS + 1);
    }
}
