//! Which stages of its chain a consumer reads ([`Stages`]); `groups.rs` says in which consumer
//! groups it reads them.

/// Which stages of the chain a consumer reads. The DLT is read when the consumer has a
/// dead-letter hook ([`dlt_handler`](super::RetryingConsumerBuilder::dlt_handler)), whatever
/// this says.
///
/// ```no_run
/// use rebound::{KafkaConfig, Record, RetryingConsumer, Stages};
/// // A worker that only drains the retry topics, beside a Spring service that reads the main topic.
/// let consumer = RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
///     .group_per_stage(true)
///     .stages(Stages::RETRIES)
///     .handler(|_: Record| async { Ok(()) })
///     .build()?;
/// # Ok::<(), rebound::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    main: bool,
    retries: bool,
}

impl Stages {
    /// The main topic and every retry topic (the default).
    pub const ALL: Stages = Stages {
        main: true,
        retries: true,
    };
    /// The main topic alone: failed records are still sent on to the retry topics, for whoever
    /// reads them.
    pub const MAIN: Stages = Stages {
        main: true,
        retries: false,
    };
    /// The retry topics alone.
    pub const RETRIES: Stages = Stages {
        main: false,
        retries: true,
    };

    /// Whether the main topic is read.
    pub fn main(&self) -> bool {
        self.main
    }

    /// Whether the retry topics are read.
    pub fn retries(&self) -> bool {
        self.retries
    }
}

impl Default for Stages {
    fn default() -> Self {
        Stages::ALL
    }
}
