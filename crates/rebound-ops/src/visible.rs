//! Text from Kafka made safe to show a person: on the operator's terminal (`rebound dlt`) and in
//! the web console's pages (after the templates' HTML escaping), the same visible escapes.
//!
//! A dead letter's key, headers and payload (and a topic's or group's name) were written by
//! whoever produced the record, and a terminal acts on control characters: ESC starts sequences
//! that clear the screen (`ESC [2J`), retitle the window (`ESC ]0;… BEL`) or, in some terminals,
//! write the clipboard (`ESC ]52;…`); U+009B is a one-byte CSI where C1 controls are read; a
//! carriage return lets a line overwrite what came before it; and the bidi overrides and isolates
//! (U+202A–U+202E, U+2066–U+2069, "Trojan Source") make text display in another order than it
//! is (`exe.txt` read as `txt.exe`). So every control character (C0, DEL, C1) and those bidi
//! controls are shown as visible escapes; everything else (Korean, emoji, any other script)
//! passes untouched, and text with nothing to escape is returned borrowed, without allocating.
//!
//! The notation is Rust's string-literal escapes: `\n`, `\r` and `\t` for those three, `\x1b`
//! (two lowercase hex digits) for the other C0 controls and DEL, and `\u{9b}`, `\u{202e}` for C1
//! and bidi controls. Why: each is exactly how that character is written in a Rust string
//! literal (and `\x1b`, `\n`, `\t` also in C, Python, JavaScript and `printf`), so an operator
//! can paste it into a test, `printf` or `grep -P` to find the same record. Rust's `\x` only
//! spans ASCII, which is also why the others are code points in `\u{…}`: `\x9b` would read as a
//! byte, while U+009B is the two UTF-8 bytes C2 9B.
//!
//! A backslash itself is not doubled: that would change the clean text of every Windows path or
//! escaped stack trace that scripts parse today, for a rare ambiguity (a key holding the four
//! characters `\x1b`) that `--json`, which carries the exact value, resolves.
//!
//! JSON lines use JSON's own escape instead ([`json`]): serde_json escapes C0 controls already but
//! writes DEL, C1 and bidi controls raw, so those become `\u009b` and the line still parses to the
//! original value.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` for a one-line face (a table cell, a header value, a result line): every control
/// character escaped, newlines and tabs too, so one value stays on one line.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `text` for a multi-line face (`show`'s stack trace and payload): as [`line()`], except that
/// newlines and tabs stay, as the layout of the text.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// `value` as one JSON text (compact), with DEL, C1 and bidi controls as `\uXXXX` escapes.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let text = serde_json::to_string(value)?;
    Ok(match escape_json(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(escaped) => escaped,
    })
}

/// `text` (serde_json's output, compact or pretty) with DEL, C1 and bidi controls as `\uXXXX`.
///
/// Outside its strings serde_json writes only ASCII, so these characters are always inside a
/// string, where `\uXXXX` stands for the same character (all of them are in the Basic
/// Multilingual Plane: one escape each). C0 controls are left: serde_json has escaped those in
/// strings, and the newlines of pretty output are its layout.
fn escape_json(text: &str) -> Cow<'_, str> {
    let unsafe_in_json = |c: char| c >= '\u{7f}' && is_hostile(c);
    let Some(first) = text.find(unsafe_in_json) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if unsafe_in_json(c) {
            // A String takes every write.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal would act on `c` instead of showing it.
fn is_hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(text: &str, keep_layout: bool) -> Cow<'_, str> {
    let must_escape = |c: char| is_hostile(c) && !(keep_layout && matches!(c, '\n' | '\t'));
    let Some(first) = text.find(must_escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !must_escape(c) {
            out.push(c);
            continue;
        }
        // A String takes every write.
        let _ = match c {
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            '\t' => out.write_str("\\t"),
            c if c.is_ascii() => write!(out, "\\x{:02x}", c as u32),
            c => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn is_bidi_control(c: char) -> bool {
        matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }

    #[test]
    fn clean_text_is_borrowed() {
        for text in [
            "",
            "fail@naver.com",
            "제목: 내용 🙂",
            "a\\x1b b",
            "orders-retry-1000",
        ] {
            assert!(
                matches!(line(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
            assert!(
                matches!(lines(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
        assert!(matches!(lines("at\n\tx"), Cow::Borrowed(_)));
        assert!(matches!(
            escape_json(r#"{"k":"제목\u001b"}"#),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_notation() {
        let cases = [
            ("\x1b[2J", r"\x1b[2J"),
            ("\x1b]0;title\x07", r"\x1b]0;title\x07"),
            ("\x1b]52;c;aGk=\x07", r"\x1b]52;c;aGk=\x07"),
            ("\0 \x7f", r"\x00 \x7f"),
            ("a\r\nb\tc", r"a\r\nb\tc"),
            ("\u{9b}2J \u{85}", r"\u{9b}2J \u{85}"),
            ("\u{202e}exe.txt\u{202c}", r"\u{202e}exe.txt\u{202c}"),
            ("\u{2066}\u{2069}", r"\u{2066}\u{2069}"),
            ("제목\x1b[31m내용", r"제목\x1b[31m내용"),
        ];
        for (text, shown) in cases {
            assert_eq!(line(text), shown, "{text:?}");
        }
        assert_eq!(lines("at x\x07\n\tat y\r\n"), "at x\\x07\n\tat y\\r\n");
    }

    /// Every character below U+0100 (C0, ASCII, DEL, C1, Latin-1), alone and in text: nothing a
    /// terminal acts on is left, and every other character is kept as it was.
    #[test]
    fn every_char_below_0x100() {
        for c in (0u32..0x100).filter_map(char::from_u32) {
            let text = format!("제목{c}내용");
            for (shown, keep_layout) in [(line(&text), false), (lines(&text), true)] {
                let layout = keep_layout && matches!(c, '\n' | '\t');
                assert!(
                    shown.chars().all(|s| !s.is_control() || (layout && s == c)),
                    "{c:?} → {shown:?}"
                );
                let kept = shown == text;
                assert_eq!(kept, !c.is_control() || layout, "{c:?} → {shown:?}");
                assert!(shown.starts_with("제목") && shown.ends_with("내용"));
            }
        }
    }

    /// Text of any characters: printable ones of every script mixed with the controls (which a
    /// plain `any::<String>()`, printable only, would not draw), or any `char` at all.
    fn texts() -> impl Strategy<Value = String> {
        prop_oneof![
            "(\\PC|[\\x00-\\x1f\\x7f-\\x{9f}\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}]){0,40}",
            prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
        ]
    }

    proptest! {
        #[test]
        fn output_never_holds_a_control(text in texts()) {
            let shown = line(&text);
            prop_assert!(!shown.chars().any(|c| c.is_control() || is_bidi_control(c)));
            let shown = lines(&text);
            prop_assert!(!shown
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)));
        }

        /// Escaping only adds: taking the escapes out again gives the text back, so nothing
        /// else was changed on the way.
        #[test]
        fn only_controls_change(text in texts()) {
            // The notation does not double backslashes (see the module's doc).
            let text = text.replace('\\', "/");
            prop_assert_eq!(&unescape(&line(&text)), &text);
            prop_assert_eq!(unescape(&lines(&text)), text);
        }

        #[test]
        fn json_parses_back_to_the_same_value(text in texts(), key in texts()) {
            let value = serde_json::json!({ "key": key, "text": text, "list": [text.clone()] });
            let line = json(&value).unwrap();
            prop_assert!(!line.chars().any(|c| c.is_control() || is_bidi_control(c)));
            let back: serde_json::Value = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(back, value.clone());
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let back: serde_json::Value = serde_json::from_str(&escape_json(&pretty)).unwrap();
            prop_assert_eq!(back, value);
        }
    }

    /// The inverse of [`line`] for text without backslashes of its own.
    fn unescape(shown: &str) -> String {
        let mut out = String::new();
        let mut rest = shown;
        while let Some(at) = rest.find('\\') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let (c, len) = match rest.as_bytes()[0] {
                b'n' => ('\n', 1),
                b'r' => ('\r', 1),
                b't' => ('\t', 1),
                b'x' => (hex_char(&rest[1..3]), 3),
                b'u' => {
                    let end = rest.find('}').unwrap();
                    (hex_char(&rest[2..end]), end + 1)
                }
                other => panic!("unknown escape {other}"),
            };
            out.push(c);
            rest = &rest[len..];
        }
        out.push_str(rest);
        out
    }

    fn hex_char(digits: &str) -> char {
        char::from_u32(u32::from_str_radix(digits, 16).unwrap()).unwrap()
    }
}
