//! Reading the text headers that Connect, share groups and Streams write: UTF-8, numbers as
//! decimal strings (Java's `String.valueOf`), each failure to read leaving a warning.

use std::str::FromStr;

use rebound::headers::{Headers, Provenance};

/// Reads one dialect's headers, collecting a warning for each value it cannot read.
pub(super) struct TextReader<'a> {
    pub headers: &'a Headers,
    pub warnings: Vec<String>,
}

impl<'a> TextReader<'a> {
    pub(super) fn new(headers: &'a Headers) -> Self {
        TextReader {
            headers,
            warnings: Vec::new(),
        }
    }

    /// The last value of `key` as UTF-8 text; a value that is not UTF-8 is read lossily and warned
    /// about, a null value reads as absent.
    pub(super) fn text(&mut self, key: &str) -> Option<String> {
        let bytes = self.headers.last(key)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(text.to_string()),
            Err(_) => {
                self.warnings.push(format!(
                    "header {key} is not UTF-8 ({} bytes): read lossily",
                    bytes.len()
                ));
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
        }
    }

    /// The last value of `key` as a decimal number; absent when missing, warned about and absent
    /// when it is not one.
    pub(super) fn number<T: FromStr>(&mut self, key: &str) -> Option<T> {
        let bytes = self.headers.last(key)?;
        let parsed = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.trim().parse::<T>().ok());
        if parsed.is_none() {
            self.warnings.push(format!(
                "header {key} is not a decimal number: {}",
                shown(bytes)
            ));
        }
        parsed
    }

    /// Where the failed record was: the text header `topic` with the decimal `partition` and
    /// `offset`. `None` without a topic, and the other two are then neither read nor warned about.
    pub(super) fn origin(
        &mut self,
        topic: &str,
        partition: &str,
        offset: &str,
    ) -> Option<Provenance> {
        let topic = self.text(topic)?;
        Some(Provenance {
            topic,
            partition: self.number(partition),
            offset: self.number(offset),
            timestamp: None,
            consumer_group: None,
        })
    }

    /// Warns when none of `keys` is present: the writer should have written one.
    pub(super) fn expect(&mut self, keys: &[&str]) {
        if !keys.iter().any(|k| self.headers.last(k).is_some()) {
            self.warnings
                .push(format!("header {} is missing", keys.join(" / ")));
        }
    }
}

/// A short printable form of a value for a warning: text as debug-quoted, else hex.
fn shown(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(32)];
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!(
            "0x{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}
