//! Share-group DLQ pointers: a record the broker wrote without key or value (KIP-1191's default),
//! whose headers say where the source record is. Resolving one reads that record, so show and
//! redrive work on the real key, value and headers; when the source topic no longer holds it the
//! dead letter says why, and redrive refuses with that reason.

use rebound::{KafkaConfig, Record};

use crate::dead_letter::DeadLetter;
use crate::dialect::Dialect;
use crate::id::Position;
use crate::reader;

/// Whether `record`, read as `dialect`, is a pointer rather than a copy.
pub(crate) fn is_pointer(dialect: Dialect, record: &Record) -> bool {
    dialect == Dialect::ShareGroup && record.key().is_none() && record.payload().is_none()
}

/// Reads the source record of a pointer into [`DeadLetter::source`], or says in
/// [`DeadLetter::payload_omitted`] why it cannot be had. Anything else is left as it is.
pub async fn resolve(kafka: &KafkaConfig, dead_letter: &mut DeadLetter) {
    if !is_pointer(dead_letter.dialect, &dead_letter.record) || dead_letter.source.is_some() {
        return;
    }
    let origin = dead_letter.origin.as_ref();
    let at = origin.and_then(|o| Some((o.topic.clone(), o.partition?, o.offset?)));
    let Some((topic, partition, offset)) = at else {
        dead_letter.payload_omitted = Some(
            "a share-group pointer whose headers do not say where the source record is".into(),
        );
        return;
    };
    let place = format!("{topic}-{partition}@{offset}");
    match reader::read_at(kafka, &topic, Position { partition, offset }).await {
        Ok(Some(source)) => {
            dead_letter.source = Some(source);
            dead_letter.payload_omitted = None;
        }
        Ok(None) => {
            dead_letter.payload_omitted = Some(format!(
                "a share-group pointer to {place}, which {topic} no longer holds (retention or \
                 deletion removed it)"
            ))
        }
        Err(e) => {
            dead_letter.payload_omitted = Some(format!(
                "a share-group pointer to {place}, which could not be read: {e}"
            ))
        }
    }
}
