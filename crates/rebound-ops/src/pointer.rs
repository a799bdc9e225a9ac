//! Share-group DLQ records and their source: by default a record the broker wrote without key or
//! value (a pointer, KIP-1191's default), whose headers say where the source record is; with the
//! group's `errors.deadletterqueue.copy.record.enable`, a copy of the key and value but not of the
//! source's headers (Kafka 4.4.0 drops them). Resolving one reads the source record, so show and
//! redrive work on the real key, value and headers. When the source topic no longer holds it, a
//! pointer says why and redrive refuses with that reason; a copy is redriven as it is, with a
//! warning that the source's headers are lost.

use rebound::KafkaConfig;

use crate::dead_letter::DeadLetter;
use crate::dialect::Dialect;
use crate::id::Position;
use crate::reader;

/// Reads the source record of a share-group dead letter into [`DeadLetter::source`]; for a
/// pointer whose source cannot be had, says why in [`DeadLetter::payload_omitted`]. Dead letters
/// of other dialects are left as they are.
pub async fn resolve(kafka: &KafkaConfig, dead_letter: &mut DeadLetter) {
    if dead_letter.dialect != Dialect::ShareGroup || dead_letter.source.is_some() {
        return;
    }
    let pointer = dead_letter.dialect.is_pointer(&dead_letter.record);
    let origin = dead_letter.origin.as_ref();
    let at = origin.and_then(|o| Some((o.topic.clone(), o.partition?, o.offset?)));
    let Some((topic, partition, offset)) = at else {
        if pointer {
            dead_letter.payload_omitted = Some(
                "a share-group pointer whose headers do not say where the source record is".into(),
            );
        }
        return;
    };
    let place = format!("{topic}-{partition}@{offset}");
    let gone = match reader::read_at(kafka, &topic, Position { partition, offset }).await {
        Ok(Some(source)) => {
            dead_letter.source = Some(source);
            dead_letter.payload_omitted = None;
            return;
        }
        Ok(None) => format!("{topic} no longer holds it (retention or deletion removed it)"),
        Err(e) => format!("it could not be read: {e}"),
    };
    if pointer {
        dead_letter.payload_omitted =
            Some(format!("a share-group pointer to {place}, which {gone}"));
    } else {
        dead_letter.warnings.push(format!(
            "the source record {place} cannot be had ({gone}): this copy has its key and value \
             but not its headers"
        ));
    }
}
