//! The `rebound dlt …` command equivalent to a console action, shown on every action page so a
//! person can repeat it in a terminal, paste it in a ticket, or learn the command. Every word is
//! quoted for a POSIX shell: keys and errors are dead letters' data and may hold anything.

/// `word` as one word of a POSIX shell: bare when it is made of characters no shell treats
/// specially, else in single quotes (a `'` inside written as `'\''`).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@:,+%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `rebound` followed by `words`, each quoted.
pub fn command(words: &[String]) -> String {
    std::iter::once("rebound".to_string())
        .chain(words.iter().map(|w| quote(w)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_when_a_shell_would_read_them() {
        let cases = [
            ("email.send.dlt", "email.send.dlt"),
            ("0@17", "0@17"),
            ("--error", "--error"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$(rm -rf ~)", "'$(rm -rf ~)'"),
            ("`id`", "'`id`'"),
            ("^451", "'^451'"),
            ("20%", "20%"),
            ("탈퇴한 사용자", "'탈퇴한 사용자'"),
            ("a\nb", "'a\nb'"),
        ];
        for (word, quoted) in cases {
            assert_eq!(quote(word), quoted, "{word:?}");
        }
        let words = ["dlt", "discard", "x.dlt", "--reason", "member left"].map(String::from);
        assert_eq!(
            command(&words),
            "rebound dlt discard x.dlt --reason 'member left'"
        );
    }
}
