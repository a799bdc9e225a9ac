//! What a handler returns when it cannot handle a record, and how a failure is classified
//! (the classes themselves are in `class.rs`).

mod class;

pub use class::{FailureClass, UnknownFailureClass};

use std::any::TypeId;
use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A handler's failure: an error plus, when the handler knows it, its class.
///
/// Any error converts with `?`; its class is then decided by the consumer's [`Classifier`]
/// (transient unless a rule says otherwise). Say it explicitly with [`Failure::permanent`] and
/// friends when the handler knows better.
pub struct Failure {
    class: Option<FailureClass>,
    error: BoxError,
    type_name: &'static str,
}

impl Failure {
    /// A failure that might work later: retried in place, then through the retry topics.
    pub fn transient<E: Into<BoxError>>(error: E) -> Self {
        Failure::with_class(Some(FailureClass::Transient), error)
    }

    /// A failure that will never work: straight to the DLT. `Failure::permanent("no such mailbox")` works with plain text too.
    pub fn permanent<E: Into<BoxError>>(error: E) -> Self {
        Failure::with_class(Some(FailureClass::Permanent), error)
    }

    /// A payload that cannot be decoded: straight to the DLT.
    pub fn undecodable<E: Into<BoxError>>(error: E) -> Self {
        Failure::with_class(Some(FailureClass::Undecodable), error)
    }

    /// A failure whose class the [`Classifier`] decides.
    pub fn unclassified<E: Into<BoxError>>(error: E) -> Self {
        Failure::with_class(None, error)
    }

    fn with_class<E: Into<BoxError>>(class: Option<FailureClass>, error: E) -> Self {
        // Plain text (`Failure::permanent("no such mailbox")`) is named `Message`, the type a
        // handler failing with text would write, rather than `&str`, where Spring writes the
        // exception's class. Which text is told by type, not by the text of a type's name
        // (whose form std does not promise).
        let type_name = if is_text::<E>() {
            std::any::type_name::<Message>()
        } else {
            std::any::type_name::<E>()
        };
        Failure {
            class,
            error: error.into(),
            type_name,
        }
    }

    /// The Rust type of the error, written where Spring writes the exception's class name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The class the handler gave, if it gave one.
    pub fn class(&self) -> Option<FailureClass> {
        self.class
    }

    /// The underlying error.
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }

    /// The error and its sources, one per line, in the spirit of a Java stack trace's
    /// `Caused by:` lines (Rust errors carry no stack).
    pub fn chain_text(&self) -> String {
        let mut text = self.error.to_string();
        let mut source = self.error.source();
        while let Some(cause) = source {
            text.push_str("\nCaused by: ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// Whether `E` is one of the text types that box into std's string error. `typeid::of` compares
/// `&'a str` as `&'static str`, so a borrowed text is text too (`TypeId::of` would ask for
/// `E: 'static` and refuse `Failure::permanent(line.as_str())`).
fn is_text<E>() -> bool {
    let id = typeid::of::<E>();
    id == TypeId::of::<&'static str>()
        || id == TypeId::of::<String>()
        || id == TypeId::of::<Cow<'static, str>>()
}

impl<E: StdError + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::unclassified(error)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("class", &self.class)
            .field("error", &self.chain_text())
            .finish()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// A simple error carrying a message, for handlers that fail with text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

impl Failure {
    /// A transient failure with a plain message.
    pub fn msg(message: impl Into<String>) -> Self {
        Failure::transient(Message(message.into()))
    }
}

type Rule = Arc<dyn Fn(&(dyn StdError + 'static)) -> Option<FailureClass> + Send + Sync>;

/// Decides the class of failures the handler left unclassified, by error type. Without a rule
/// matching, a failure is transient (Spring's default too, but for its list of fatal exceptions).
///
/// ```
/// use rebound::{Classifier, FailureClass};
/// #[derive(Debug, thiserror::Error)]
/// #[error("mailbox unknown")]
/// struct UnknownMailbox;
///
/// let classifier = Classifier::new().permanent_on::<UnknownMailbox>();
/// # let _ = classifier;
/// ```
#[derive(Clone, Default)]
pub struct Classifier {
    rules: Vec<Rule>,
}

impl Classifier {
    /// No rules: every unclassified failure is transient.
    pub fn new() -> Self {
        Classifier::default()
    }

    /// Errors of type `E`, anywhere in the source chain, are permanent.
    pub fn permanent_on<E: StdError + 'static>(self) -> Self {
        self.class_on::<E>(FailureClass::Permanent)
    }

    /// Errors of type `E`, anywhere in the source chain, have class `class`.
    pub fn class_on<E: StdError + 'static>(mut self, class: FailureClass) -> Self {
        self.rules
            .push(Arc::new(move |e| e.downcast_ref::<E>().map(|_| class)));
        self
    }

    /// A custom rule; the first rule that answers wins.
    pub fn rule(
        mut self,
        rule: impl Fn(&(dyn StdError + 'static)) -> Option<FailureClass> + Send + Sync + 'static,
    ) -> Self {
        self.rules.push(Arc::new(rule));
        self
    }

    /// The failure's own class if it has one, else the first matching rule's, else transient.
    pub fn classify(&self, failure: &Failure) -> FailureClass {
        if let Some(class) = failure.class {
            return class;
        }
        let mut current: Option<&(dyn StdError + 'static)> = Some(failure.error.as_ref());
        while let Some(error) = current {
            if let Some(class) = self.rules.iter().find_map(|rule| rule(error)) {
                return class;
            }
            current = error.source();
        }
        FailureClass::Transient
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Classifier({} rules)", self.rules.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("no such mailbox")]
    struct NoMailbox;

    #[derive(Debug, thiserror::Error)]
    #[error("send failed")]
    struct SendFailed(#[source] NoMailbox);

    #[test]
    fn plain_text_is_as_easy_for_every_class() {
        for (failure, class) in [
            (Failure::msg("busy"), FailureClass::Transient),
            (
                Failure::permanent("no such mailbox"),
                FailureClass::Permanent,
            ),
            (
                Failure::undecodable(String::from("not JSON")),
                FailureClass::Undecodable,
            ),
        ] {
            assert_eq!(failure.class(), Some(class));
            assert_eq!(failure.type_name(), "rebound::failure::Message");
        }
        assert_eq!(
            Failure::permanent("no such mailbox").to_string(),
            "no such mailbox"
        );
    }

    #[test]
    fn borrowed_text_is_text_and_errors_keep_their_type() {
        let line = String::from("550 no such user");
        for failure in [
            Failure::permanent(line.as_str()),
            Failure::permanent(Cow::Borrowed(line.as_str())),
            Failure::transient(Cow::<str>::Owned(line.clone())),
        ] {
            assert_eq!(failure.type_name(), "rebound::failure::Message");
            assert_eq!(failure.to_string(), "550 no such user");
        }
        assert_eq!(
            Failure::permanent(NoMailbox).type_name(),
            std::any::type_name::<NoMailbox>()
        );
        let boxed: BoxError = Box::new(NoMailbox);
        assert_eq!(
            Failure::transient(boxed).type_name(),
            std::any::type_name::<BoxError>(),
            "a box is named as what it is, as before"
        );
    }

    #[test]
    fn unclassified_defaults_to_transient() {
        let failure: Failure = std::io::Error::other("boom").into();
        assert_eq!(
            Classifier::new().classify(&failure),
            FailureClass::Transient
        );
    }

    #[test]
    fn rules_look_through_the_source_chain() {
        let classifier = Classifier::new().permanent_on::<NoMailbox>();
        let failure: Failure = SendFailed(NoMailbox).into();
        assert_eq!(classifier.classify(&failure), FailureClass::Permanent);
        assert_eq!(
            failure.chain_text(),
            "send failed\nCaused by: no such mailbox"
        );
    }

    #[test]
    fn explicit_class_wins_over_rules() {
        let classifier = Classifier::new().permanent_on::<NoMailbox>();
        assert_eq!(
            classifier.classify(&Failure::transient(NoMailbox)),
            FailureClass::Transient
        );
    }
}
