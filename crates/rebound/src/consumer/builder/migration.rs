//! The builder's options for a shop moving between Spring Kafka and Rebound: Spring's group per
//! stage, and which stages this consumer reads.

use super::RetryingConsumerBuilder;
use crate::consumer::stages::Stages;

/// The options of [`RetryingConsumerBuilder`] for a shop moving between Spring Kafka and Rebound.
impl RetryingConsumerBuilder {
    /// Consumes each stage of the chain in the consumer group Spring Kafka's `@RetryableTopic`
    /// reads it in: the main topic in the group given, each retry topic in that group plus the
    /// topic's suffix (`email-send-group-retry-1000`), the DLT (with a
    /// [`dlt_handler`](Self::dlt_handler)) in the group plus the DLT suffix
    /// (`email-send-group.dlt`). Default: one group for every stage.
    ///
    /// With it, a Spring service and a Rebound worker share each stage's group at the same time
    /// (Kafka splits the partitions between them), so a shop moves one consumer at a time, and
    /// back, with nothing handled twice beyond the records in hand when a member leaves: each
    /// stage's committed offsets are the ones Spring committed. See INTEROP.md's migration guide.
    ///
    /// [`ProcessingOrder::Key`](crate::ProcessingOrder::Key) needs the member that owns partition *p* of the main topic to own
    /// *p* of every retry topic, which separate groups do not give: [`build`](RetryingConsumerBuilder::build)
    /// refuses the two together.
    pub fn group_per_stage(mut self, per_stage: bool) -> Self {
        self.settings.group_per_stage = per_stage;
        self
    }

    /// Which stages of the chain this consumer reads (default [`Stages::ALL`]); with
    /// [`Stages::RETRIES`] a worker drains the retry topics while another service reads the
    /// main topic. The DLT follows the [`dlt_handler`](Self::dlt_handler).
    pub fn stages(mut self, stages: Stages) -> Self {
        self.settings.stages = stages;
        self
    }
}
