//! What to do when a handler fails: how many attempts, how long to wait between them, and where a
//! record goes when it runs out of attempts.
//!
//! The defaults mirror Spring Kafka's `@RetryableTopic` so that a Rust worker and a Java worker
//! configured alike derive the same topic names (see [`crate::naming`]).

use std::any::TypeId;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::failure::{Failure, FailureClass};

/// How the delay before each retry grows.
#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial * multiplier^(n-1)` before retry `n`, capped at `max`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// How much each delay grows over the previous one.
        multiplier: f64,
        /// The longest delay.
        max: Duration,
    },
}

impl Backoff {
    /// Spring's `@Backoff(delay, multiplier)` with its default cap of 30 s.
    pub fn exponential(initial: Duration, multiplier: f64) -> Self {
        Backoff::Exponential {
            initial,
            multiplier,
            max: Duration::from_secs(30),
        }
    }

    /// Replaces the cap of an exponential back-off; a fixed back-off is left as it is.
    pub fn with_max(self, cap: Duration) -> Self {
        match self {
            Backoff::Exponential {
                initial,
                multiplier,
                ..
            } => Backoff::Exponential {
                initial,
                multiplier,
                max: cap,
            },
            fixed => fixed,
        }
    }

    /// The delay after failed attempt `failed_attempt` (1-based), before the next one.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        match self {
            Backoff::Fixed(delay) => *delay,
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let exponent = failed_attempt.saturating_sub(1).min(64) as i32;
                let millis = initial.as_millis() as f64 * multiplier.powi(exponent);
                let capped = millis.min(max.as_millis() as f64).max(0.0);
                Duration::from_millis(capped.round() as u64)
            }
        }
    }
}

/// In-place retries inside the consumer before a record is handed to the retry topics. Good for
/// faults that last milliseconds (a dropped connection); they hold up the record's partition
/// while they run, so keep them short.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockingRetries {
    /// Total in-place attempts (1 means no blocking retry). `u32::MAX` means retry until it works,
    /// which is what a dead-letter listener wants for an alert that must not be dropped.
    pub attempts: u32,
    /// The delay between in-place tries.
    pub backoff: Backoff,
}

impl BlockingRetries {
    /// `attempts` tries in place (the first included), `backoff` between them.
    pub fn new(attempts: u32, backoff: Backoff) -> Self {
        BlockingRetries {
            attempts: attempts.max(1),
            backoff,
        }
    }

    /// Retries forever with the given back-off: the record is never given up.
    pub fn forever(backoff: Backoff) -> Self {
        BlockingRetries {
            attempts: u32::MAX,
            backoff,
        }
    }
}

/// How retry topics are suffixed when several attempts share one delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicReuse {
    /// Spring's default (`SameIntervalTopicReuseStrategy.SINGLE_TOPIC`): attempts that wait the same
    /// delay share one topic.
    #[default]
    SingleTopic,
    /// One topic per attempt (`MULTIPLE_TOPICS`): equal delays get `-0`, `-1`, … after the name.
    TopicPerAttempt,
}

/// How a retry topic's suffix is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicSuffixing {
    /// `-retry-1000`: the delay in milliseconds (Spring's `SUFFIX_WITH_DELAY_VALUE`, the default).
    #[default]
    DelayValue,
    /// `-retry-0`, `-retry-1`: the index of the retry (Spring's `SUFFIX_WITH_INDEX_VALUE`).
    IndexValue,
}

/// Spring Kafka's DLT suffixes by name, for [`RetryPolicy::dlt_suffix`]
/// (`.dlt_suffix(DltSuffix::SpringDefault)`).
///
/// Which suffix a Spring service uses by default depends on how it dead-letters, and for the
/// plain recoverer on its version (checked in spring-kafka's source):
///
/// | Spring Kafka | `@RetryableTopic` / `RetryTopicConfigurationBuilder` | plain `DeadLetterPublishingRecoverer` |
/// |---|---|---|
/// | 2.7 to 3.2 | `-dlt` (`RetryTopicConstants.DEFAULT_DLT_SUFFIX`) | `.DLT` |
/// | 3.3, 4.0 and later | `-dlt` | `-dlt` (since 3.3.0, GH-3291) |
///
/// Spring Boot 3.5 manages spring-kafka 3.3, Spring Boot 4.0 spring-kafka 4.0: `-dlt` both ways.
/// The blog's scenario sets its own, `.dlt` (`dltTopicSuffix = ".dlt"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DltSuffix {
    /// `-dlt`: the default of `@RetryableTopic` in every version, and of the plain
    /// `DeadLetterPublishingRecoverer` since spring-kafka 3.3.0. Rebound's default too.
    SpringDefault,
    /// `.DLT`: the plain `DeadLetterPublishingRecoverer`'s default before spring-kafka 3.3.0
    /// (2.x to 3.2).
    SpringLegacyRecoverer,
}

impl DltSuffix {
    /// The suffix's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            DltSuffix::SpringDefault => "-dlt",
            DltSuffix::SpringLegacyRecoverer => ".DLT",
        }
    }
}

impl From<DltSuffix> for String {
    fn from(suffix: DltSuffix) -> String {
        suffix.as_str().to_string()
    }
}

impl std::fmt::Display for DltSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What becomes of a record that runs out of attempts, and of a dead letter whose hook fails:
/// Spring's `DltStrategy` (`@RetryableTopic(dltStrategy = …)`,
/// `RetryTopicConfigurationBuilder.dltProcessingFailureStrategy`).
///
/// The dead-letter hook is [`dlt_handler`](crate::RetryingConsumerBuilder::dlt_handler) (or the
/// handler of [`RetryingConsumer::dead_letters`](crate::RetryingConsumer::dead_letters)); Spring's
/// is the `@DltHandler` method. Under each strategy:
///
/// | strategy | a record out of attempts | the hook fails on a dead letter |
/// |---|---|---|
/// | [`AlwaysRetryOnError`](Self::AlwaysRetryOnError) (default) | to the DLT | called again, 1 s doubling to a minute, until it succeeds; the dead letter's offset waits |
/// | [`FailOnError`](Self::FailOnError) | to the DLT | logged (error) and the dead letter skipped: its offset is committed, it stays in the DLT |
/// | [`NoDlt`](Self::NoDlt) | logged and skipped after its last attempt; no DLT topic is derived, created or read | (no hook runs) |
///
/// Spring's `ALWAYS_RETRY_ON_ERROR` sends the failed dead letter back to the end of the DLT (a
/// new record, so `rebound dlt list` shows each copy), and gives up on a fatal exception
/// (`ClassCastException`, `DeserializationException`, …); Rebound calls the hook again in place,
/// whatever the failure's class, so the DLT keeps one record and its order. Spring's
/// `FAIL_ON_ERROR` hands a failing exception-routed dead letter to the next DLT of its list;
/// Rebound skips it, as from any DLT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DltStrategy {
    /// Spring's default, `ALWAYS_RETRY_ON_ERROR`: a dead letter is never dropped by its own hook.
    #[default]
    AlwaysRetryOnError,
    /// `FAIL_ON_ERROR`: a dead letter its hook fails on is logged and skipped.
    FailOnError,
    /// `NO_DLT`: no dead-letter topic; a record out of attempts is logged and skipped
    /// (what [`RetryPolicy::without_dlt`] sets).
    NoDlt,
}

/// A DLT of its own for chosen failures: Spring's exception-based DLT routing
/// (`@RetryableTopic(exceptionBasedDltRouting = @ExceptionBasedDltDestination(suffix, exceptions))`,
/// `RetryTopicConfigurationBuilder.dltRoutingRules`, spring-kafka 3.2 and later).
///
/// A record bound for the DLT (out of attempts, a failure that is never retried, or past the
/// overall timeout) whose failure a route matches goes to `<main><suffix><dlt suffix>` instead:
/// the route's suffix comes before the DLT's, as Spring names it, so `-invalid` on `orders` with
/// Spring's `-dlt` is `orders-invalid-dlt`. Routes change where a record dies, never whether or
/// how often it is retried (as in Spring, where the exceptions are retried like any other unless
/// classified otherwise). The first route of the policy that matches wins (Spring keeps its
/// routes in a map, in no order, so give a failure one route).
///
/// A route matches by Rust type, anywhere in the failure's source chain (Spring: the exception or
/// one of its causes, `isInstance`), by the failure's class, or by a rule of your own; the
/// failure's type name is never parsed.
///
/// ```
/// use rebound::naming::TopicChain;
/// use rebound::{DltRoute, FailureClass, RetryPolicy};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("no such mailbox: {0}")]
/// struct InvalidAddress(String);
///
/// let policy = RetryPolicy::new(3)
///     .dlt_route(DltRoute::new("-invalid").on::<InvalidAddress>())
///     .dlt_route(DltRoute::new("-deserialization").on_class(FailureClass::Undecodable));
/// let chain = TopicChain::new("orders", &policy);
/// assert_eq!(chain.topic_names(), [
///     "orders", "orders-retry",
///     "orders-invalid-dlt", "orders-deserialization-dlt", "orders-dlt",
/// ]);
/// ```
#[derive(Clone, PartialEq)]
pub struct DltRoute {
    pub(crate) suffix: String,
    rules: Vec<RouteRule>,
}

/// One way a [`DltRoute`] chooses failures.
#[derive(Clone)]
enum RouteRule {
    /// An error of this type anywhere in the source chain.
    Type {
        id: TypeId,
        name: &'static str,
        is: fn(&(dyn StdError + 'static)) -> bool,
    },
    /// The failure's class.
    Class(FailureClass),
    /// A rule of the caller's, asked of each error of the source chain.
    Custom(CustomRule),
}

/// A rule of the caller's for [`DltRoute::rule`].
type CustomRule = Arc<dyn Fn(&(dyn StdError + 'static)) -> bool + Send + Sync>;

impl PartialEq for RouteRule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RouteRule::Type { id: a, .. }, RouteRule::Type { id: b, .. }) => a == b,
            (RouteRule::Class(a), RouteRule::Class(b)) => a == b,
            (RouteRule::Custom(a), RouteRule::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for RouteRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteRule::Type { name, .. } => write!(f, "on::<{name}>"),
            RouteRule::Class(class) => write!(f, "on_class({class})"),
            RouteRule::Custom(_) => f.write_str("rule(..)"),
        }
    }
}

fn is_type<E: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    error.is::<E>()
}

impl DltRoute {
    /// A route to `<main><suffix><dlt suffix>`, choosing no failure until told which. Spring's
    /// `suffix` is taken verbatim: give its leading `-` or `.` (`"-deserialization"`).
    pub fn new(suffix: impl Into<String>) -> Self {
        DltRoute {
            suffix: suffix.into(),
            rules: Vec::new(),
        }
    }

    /// Failures with an error of type `E` anywhere in their source chain (Spring's `exceptions`).
    pub fn on<E: StdError + 'static>(mut self) -> Self {
        self.rules.push(RouteRule::Type {
            id: TypeId::of::<E>(),
            name: std::any::type_name::<E>(),
            is: is_type::<E>,
        });
        self
    }

    /// Failures of class `class`, as the handler or the [`Classifier`](crate::Classifier) gave
    /// it: `FailureClass::Undecodable` for what Spring routes on `DeserializationException`.
    pub fn on_class(mut self, class: FailureClass) -> Self {
        self.rules.push(RouteRule::Class(class));
        self
    }

    /// Failures with an error in their source chain for which `rule` says `true`.
    pub fn rule(
        mut self,
        rule: impl Fn(&(dyn StdError + 'static)) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rules.push(RouteRule::Custom(Arc::new(rule)));
        self
    }

    /// What the route adds before the DLT's suffix.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// Whether a failure of class `class` goes this way.
    pub fn matches(&self, failure: &Failure, class: FailureClass) -> bool {
        self.rules.iter().any(|rule| match rule {
            RouteRule::Class(c) => *c == class,
            RouteRule::Type { is, .. } => any_in_chain(failure, is),
            RouteRule::Custom(rule) => any_in_chain(failure, |e| rule(e)),
        })
    }
}

/// Whether `test` holds for the failure's error or one of its sources.
fn any_in_chain(failure: &Failure, test: impl Fn(&(dyn StdError + 'static)) -> bool) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(failure.error());
    while let Some(error) = current {
        if test(error) {
            return true;
        }
        current = error.source();
    }
    false
}

impl fmt::Debug for DltRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DltRoute")
            .field("suffix", &self.suffix)
            .field("rules", &self.rules)
            .finish()
    }
}

/// The whole retry configuration of one consumer: the Rust spelling of `@RetryableTopic`.
///
/// ```
/// use std::time::Duration;
/// use rebound::{Backoff, RetryPolicy};
///
/// // The scenario: 5 attempts, 1 s doubling, dead letters in `email.send.dlt`.
/// let policy = RetryPolicy::new(5)
///     .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
///     .dlt_suffix(".dlt");
/// assert_eq!(policy.retry_delays(), vec![
///     Duration::from_secs(1), Duration::from_secs(2),
///     Duration::from_secs(4), Duration::from_secs(8),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: f64,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry_suffix: String,
    pub(crate) dlt_suffix: String,
    pub(crate) dlt_strategy: DltStrategy,
    pub(crate) routes: Vec<DltRoute>,
    pub(crate) blocking: Option<BlockingRetries>,
    pub(crate) reuse: TopicReuse,
    pub(crate) suffixing: TopicSuffixing,
}

impl Default for RetryPolicy {
    /// Spring's defaults: [`RetryPolicy::spring_defaults`].
    fn default() -> Self {
        RetryPolicy::spring_defaults()
    }
}

impl RetryPolicy {
    /// A bare `@RetryableTopic` (spring-kafka 2.7 to 4.0): 3 attempts, 1 s fixed back-off (so one
    /// `-retry` topic), suffixes `-retry` and `-dlt` ([`DltSuffix::SpringDefault`]), the DLT's
    /// hook retried on failure ([`DltStrategy::AlwaysRetryOnError`]).
    ///
    /// ```
    /// use rebound::naming::TopicChain;
    /// use rebound::RetryPolicy;
    ///
    /// let chain = TopicChain::new("orders", &RetryPolicy::spring_defaults());
    /// assert_eq!(chain.topic_names(), ["orders", "orders-retry", "orders-dlt"]);
    /// ```
    pub fn spring_defaults() -> Self {
        RetryPolicy::new(3)
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .retry_suffix("-retry")
            .dlt_suffix(DltSuffix::SpringDefault)
            .dlt_strategy(DltStrategy::AlwaysRetryOnError)
    }

    /// `attempts` counts every delivery, the first one included (Spring's `attempts`).
    pub fn new(attempts: u32) -> Self {
        RetryPolicy {
            attempts: attempts.max(1),
            backoff: Backoff::Fixed(Duration::from_secs(1)),
            jitter: 0.0,
            timeout: None,
            retry_suffix: "-retry".into(),
            dlt_suffix: DltSuffix::SpringDefault.into(),
            dlt_strategy: DltStrategy::AlwaysRetryOnError,
            routes: Vec::new(),
            blocking: None,
            reuse: TopicReuse::SingleTopic,
            suffixing: TopicSuffixing::DelayValue,
        }
    }

    /// How the delay grows between deliveries (Spring's `@Backoff`).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Spreads each delay by up to `fraction` (0.0–1.0) of itself, later only: a record is never
    /// due before its nominal delay. Topic names keep the nominal delays.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// Gives up (to the DLT) once this much time has passed since the original record's timestamp.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry topics' suffix (default `-retry`).
    pub fn retry_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.retry_suffix = suffix.into();
        self
    }

    /// The DLT's suffix (default `-dlt`, [`DltSuffix::SpringDefault`]; the scenario uses `.dlt`).
    pub fn dlt_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.dlt_suffix = suffix.into();
        self
    }

    /// What becomes of records out of attempts and of dead letters their hook fails on (Spring's
    /// `DltStrategy`; default [`DltStrategy::AlwaysRetryOnError`]).
    pub fn dlt_strategy(mut self, strategy: DltStrategy) -> Self {
        self.dlt_strategy = strategy;
        self
    }

    /// A DLT of its own for the failures `route` chooses (Spring's exception-based DLT routing;
    /// see [`DltRoute`]). A route whose suffix the policy has already adds its rules to it; a
    /// route with an empty suffix names the DLT itself (its failures stay there, whatever later
    /// routes say). Under [`DltStrategy::NoDlt`] there are no DLTs, routed ones included, as in
    /// Spring.
    pub fn dlt_route(mut self, route: DltRoute) -> Self {
        match self.routes.iter_mut().find(|r| r.suffix == route.suffix) {
            Some(same) => same.rules.extend(route.rules),
            None => self.routes.push(route),
        }
        self
    }

    /// The policy's DLT routes, in the order they are tried.
    pub fn dlt_routes(&self) -> &[DltRoute] {
        &self.routes
    }

    /// No dead-letter topic: a record that runs out of attempts is logged and skipped
    /// ([`DltStrategy::NoDlt`], Spring's `NO_DLT`).
    pub fn without_dlt(self) -> Self {
        self.dlt_strategy(DltStrategy::NoDlt)
    }

    /// Tries in place before a record leaves for a retry topic (Spring's blocking retries).
    pub fn blocking_retries(mut self, blocking: BlockingRetries) -> Self {
        self.blocking = Some(blocking);
        self
    }

    /// Whether equal trailing delays share one retry topic (Spring's default) or get one each.
    pub fn topic_reuse(mut self, reuse: TopicReuse) -> Self {
        self.reuse = reuse;
        self
    }

    /// Whether retry topics are suffixed with their delay (default) or their index.
    pub fn topic_suffixing(mut self, suffixing: TopicSuffixing) -> Self {
        self.suffixing = suffixing;
        self
    }

    /// Deliveries in all, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether records out of attempts go to a DLT (every strategy but [`DltStrategy::NoDlt`]).
    pub fn has_dlt(&self) -> bool {
        self.dlt_strategy != DltStrategy::NoDlt
    }

    /// The DLT strategy ([`RetryPolicy::dlt_strategy`]).
    pub fn dead_letter_strategy(&self) -> DltStrategy {
        self.dlt_strategy
    }

    /// The in-place retries, if any.
    pub fn blocking(&self) -> Option<&BlockingRetries> {
        self.blocking.as_ref()
    }

    /// The longest a record may spend in the chain, counted from the first record's timestamp.
    pub fn overall_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The nominal delay before each retry, one per retry topic hop (`attempts - 1` of them).
    pub fn retry_delays(&self) -> Vec<Duration> {
        (1..self.attempts)
            .map(|n| self.backoff.delay_after(n))
            .collect()
    }

    /// The delay to wait after failed attempt `n`, jitter applied.
    pub(crate) fn delay_with_jitter(&self, failed_attempt: u32) -> Duration {
        let nominal = self.backoff.delay_after(failed_attempt);
        if self.jitter == 0.0 {
            return nominal;
        }
        let extra = nominal.as_secs_f64() * self.jitter * rand::random::<f64>();
        nominal + Duration::from_secs_f64(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_delays_double() {
        let policy = RetryPolicy::new(5).backoff(Backoff::exponential(Duration::from_secs(1), 2.0));
        let delays: Vec<u128> = policy
            .retry_delays()
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 8000]);
    }

    #[test]
    fn exponential_is_capped() {
        let backoff =
            Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(4));
        let delays: Vec<u128> = (1..=5)
            .map(|n| backoff.delay_after(n).as_millis())
            .collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn jitter_never_shortens_a_delay() {
        let policy = RetryPolicy::new(4)
            .backoff(Backoff::Fixed(Duration::from_millis(100)))
            .jitter(0.5);
        for _ in 0..100 {
            let d = policy.delay_with_jitter(1);
            assert!(
                d >= Duration::from_millis(100) && d <= Duration::from_millis(150),
                "{d:?}"
            );
        }
    }

    #[test]
    fn spring_defaults_are_a_bare_retryable_topic() {
        let policy = RetryPolicy::spring_defaults();
        assert_eq!(policy, RetryPolicy::default());
        assert_eq!(policy, RetryPolicy::new(3));
        assert_eq!(policy.attempts(), 3);
        assert_eq!(policy.backoff, Backoff::Fixed(Duration::from_secs(1)));
        assert_eq!(
            (policy.retry_suffix.as_str(), policy.dlt_suffix.as_str()),
            ("-retry", "-dlt")
        );
        assert_eq!(
            policy.dead_letter_strategy(),
            DltStrategy::AlwaysRetryOnError
        );
        assert!(policy.has_dlt());
    }

    #[test]
    fn named_dlt_suffixes() {
        let cases = [
            (DltSuffix::SpringDefault, "-dlt"),
            (DltSuffix::SpringLegacyRecoverer, ".DLT"),
        ];
        for (suffix, text) in cases {
            assert_eq!(suffix.as_str(), text);
            assert_eq!(suffix.to_string(), text);
            assert_eq!(RetryPolicy::new(2).dlt_suffix(suffix).dlt_suffix, text);
        }
    }

    #[test]
    fn dlt_strategies() {
        // (policy, strategy, whether records out of attempts go to a DLT)
        let cases = [
            (RetryPolicy::new(3), DltStrategy::AlwaysRetryOnError, true),
            (
                RetryPolicy::new(3).dlt_strategy(DltStrategy::FailOnError),
                DltStrategy::FailOnError,
                true,
            ),
            (
                RetryPolicy::new(3).dlt_strategy(DltStrategy::NoDlt),
                DltStrategy::NoDlt,
                false,
            ),
            (RetryPolicy::new(3).without_dlt(), DltStrategy::NoDlt, false),
            // The last word wins, as with every other option.
            (
                RetryPolicy::new(3)
                    .without_dlt()
                    .dlt_strategy(DltStrategy::FailOnError),
                DltStrategy::FailOnError,
                true,
            ),
        ];
        for (policy, strategy, dlt) in cases {
            assert_eq!(policy.dead_letter_strategy(), strategy);
            assert_eq!(policy.has_dlt(), dlt, "{strategy:?}");
        }
        assert_eq!(
            RetryPolicy::new(3).without_dlt(),
            RetryPolicy::new(3).dlt_strategy(DltStrategy::NoDlt)
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("no such mailbox")]
    struct InvalidAddress;

    #[derive(Debug, thiserror::Error)]
    #[error("send failed")]
    struct SendFailed(#[source] InvalidAddress);

    #[derive(Debug, thiserror::Error)]
    #[error("quota")]
    struct Quota;

    #[test]
    fn routes_choose_failures_by_type_class_or_rule() {
        let by_type = DltRoute::new("-invalid").on::<InvalidAddress>();
        let by_class = DltRoute::new("-deserialization").on_class(FailureClass::Undecodable);
        let by_rule = DltRoute::new("-quota").rule(|e| e.to_string() == "quota");
        let by_nothing = DltRoute::new("-none");
        let transient = FailureClass::Transient;
        // (route, failure, class, matches)
        let cases: Vec<(&DltRoute, Failure, FailureClass, bool)> = vec![
            (
                &by_type,
                Failure::transient(InvalidAddress),
                transient,
                true,
            ),
            // Anywhere in the source chain, as Spring's exception or one of its causes.
            (&by_type, SendFailed(InvalidAddress).into(), transient, true),
            (
                &by_type,
                Failure::permanent(InvalidAddress),
                FailureClass::Permanent,
                true,
            ),
            (&by_type, Failure::transient(Quota), transient, false),
            // Text is a `Message`, never parsed for a type.
            (&by_type, Failure::msg("InvalidAddress"), transient, false),
            (
                &by_class,
                Failure::undecodable("not JSON"),
                FailureClass::Undecodable,
                true,
            ),
            (
                &by_class,
                Failure::transient(InvalidAddress),
                transient,
                false,
            ),
            (&by_rule, Failure::transient(Quota), transient, true),
            (
                &by_rule,
                Failure::transient(InvalidAddress),
                transient,
                false,
            ),
            (
                &by_nothing,
                Failure::transient(InvalidAddress),
                transient,
                false,
            ),
        ];
        for (route, failure, class, matches) in cases {
            assert_eq!(
                route.matches(&failure, class),
                matches,
                "{route:?} {failure:?}"
            );
        }
    }

    #[test]
    fn routes_of_one_suffix_merge_and_compare_by_what_they_choose() {
        let policy = RetryPolicy::new(3)
            .dlt_route(DltRoute::new("-invalid").on::<InvalidAddress>())
            .dlt_route(DltRoute::new("-quota").on::<Quota>())
            .dlt_route(DltRoute::new("-invalid").on_class(FailureClass::Permanent));
        let suffixes: Vec<&str> = policy.dlt_routes().iter().map(|r| r.suffix()).collect();
        assert_eq!(suffixes, ["-invalid", "-quota"]);
        assert!(policy.dlt_routes()[0].matches(&Failure::permanent("x"), FailureClass::Permanent));
        assert_eq!(
            policy.dlt_routes()[0],
            DltRoute::new("-invalid")
                .on::<InvalidAddress>()
                .on_class(FailureClass::Permanent)
        );
        assert_ne!(
            DltRoute::new("-invalid").on::<InvalidAddress>(),
            DltRoute::new("-invalid").on::<Quota>()
        );
        assert_eq!(
            format!(
                "{:?}",
                DltRoute::new("-q")
                    .on::<Quota>()
                    .on_class(FailureClass::Transient)
            ),
            r#"DltRoute { suffix: "-q", rules: [on::<rebound::policy::tests::Quota>, on_class(transient)] }"#
        );
    }

    #[test]
    fn one_attempt_means_no_retry_topic() {
        assert!(RetryPolicy::new(1).retry_delays().is_empty());
        assert_eq!(RetryPolicy::new(0).attempts(), 1);
    }
}
