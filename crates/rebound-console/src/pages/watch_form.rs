//! The redrive form's watch: a canary (send the first few, then wait) and the share of copies
//! coming back to the DLT at which the redrive pauses itself. The fields are text as typed, so
//! a refused form comes back with them as they were; [`WatchForm::options`] checks them and
//! [`WatchForm::cli_args`] words them as `rebound dlt redrive` flags for the equivalent command.

use std::time::Duration;

use rebound_ops::redrive::{share_of_percent, Canary, DEFAULT_PAUSE_ABOVE};

/// The longest canary wait accepted from the web: a day.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The canary fields as typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WatchForm {
    /// Records to send first; empty: no canary.
    pub(crate) canary: String,
    /// The wait after them (`30s`, `2m`).
    pub(crate) canary_wait: String,
    /// Pause above this share, in percent; empty: no self-pause (20 with a canary).
    pub(crate) pause_above: String,
}

impl Default for WatchForm {
    fn default() -> Self {
        WatchForm {
            canary: String::new(),
            canary_wait: "30s".into(),
            pause_above: String::new(),
        }
    }
}

impl WatchForm {
    /// Takes the form's field `name` if it is one of the watch's.
    pub(crate) fn take(&mut self, name: &str, value: &str) {
        let value = value.trim().to_string();
        match name {
            "canary" => self.canary = value,
            "canary_wait" => self.canary_wait = value,
            "pause_above" => self.pause_above = value.trim_end_matches('%').trim().to_string(),
            _ => {}
        }
    }

    /// The canary and the pause threshold the fields ask for, or what is wrong with them.
    pub(crate) fn options(&self) -> Result<(Option<Canary>, Option<f64>), String> {
        let canary = match self.canary.as_str() {
            "" => None,
            text => {
                let first = text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("the canary `{text}` is not a number of records above 0")
                    })?;
                let wait = humantime::parse_duration(&self.canary_wait)
                    .ok()
                    .filter(|w| *w <= MAX_WAIT)
                    .ok_or_else(|| {
                        format!(
                            "the canary's wait `{}` is not a duration up to a day (30s, 2m)",
                            self.canary_wait
                        )
                    })?;
                Some(Canary { first, wait })
            }
        };
        let pause_above = match self.pause_above.as_str() {
            "" => canary.map(|_| DEFAULT_PAUSE_ABOVE),
            text => Some(
                share_of_percent(text)
                    .ok_or_else(|| format!("`{text}` is not a percentage from 0 to 100"))?,
            ),
        };
        Ok((canary, pause_above))
    }

    /// The flags of `rebound dlt redrive` for what the fields ask (checked or not: a refused
    /// form shows no command).
    pub(crate) fn cli_args(&self) -> Vec<String> {
        let mut words = Vec::new();
        if !self.canary.is_empty() {
            words.extend(["--canary".into(), self.canary.clone()]);
            words.extend(["--canary-wait".into(), self.canary_wait.clone()]);
        }
        if !self.pause_above.is_empty() {
            words.extend(["--pause-above".into(), format!("{}%", self.pause_above)]);
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> WatchForm {
        let mut form = WatchForm::default();
        for (name, value) in fields {
            form.take(name, value);
        }
        form
    }

    #[test]
    fn what_the_fields_ask_for() {
        let none = form(&[]);
        assert_eq!(none.options(), Ok((None, None)));
        assert!(none.cli_args().is_empty());

        let canary = form(&[("canary", "10"), ("canary_wait", "45s")]);
        let wait = Duration::from_secs(45);
        assert_eq!(
            canary.options(),
            Ok((Some(Canary { first: 10, wait }), Some(DEFAULT_PAUSE_ABOVE)))
        );
        assert_eq!(
            canary.cli_args(),
            ["--canary", "10", "--canary-wait", "45s"]
        );

        let threshold = form(&[("pause_above", "5%")]);
        assert_eq!(threshold.options(), Ok((None, Some(0.05))));
        assert_eq!(threshold.cli_args(), ["--pause-above", "5%"]);
    }

    #[test]
    fn what_is_refused() {
        for fields in [
            &[("canary", "0")][..],
            &[("canary", "ten")],
            &[("canary", "10"), ("canary_wait", "soon")],
            &[("canary", "10"), ("canary_wait", "3d")],
            &[("pause_above", "120")],
            &[("pause_above", "-1")],
        ] {
            assert!(form(fields).options().is_err(), "{fields:?}");
        }
    }
}
