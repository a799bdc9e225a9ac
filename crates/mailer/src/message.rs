//! The e-mail request and its validation: the scenario's third way of handling bad messages is to
//! stop them at the source, so that a bad request gets a clear 4xx and never enters Kafka.

use lettre::Address;
use rebound::headers::Provenance;
use rebound::Coordinates;
use serde::{Deserialize, Serialize};

/// The message on `email.send`: the scenario's shape (`from`, `to`, `subject`, `body`), byte for
/// byte what the scenario's Java producer writes, so that its consumer, which reads it with a
/// strict `new ObjectMapper()`, accepts what the API writes. The API's id travels in the
/// [`ID_HEADER`] header, not in the JSON; an `id` field is still read, for messages written before.
/// A message without either (the scenario's own producer) is named by where it entered Kafka
/// ([`EmailMessage::identify`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// The e-mail's id; empty in what the API writes (the id is in [`ID_HEADER`]) until
    /// [`EmailMessage::identify`] sets it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The sender's address.
    pub from: String,
    /// The recipient's address; also the record key, so one recipient's e-mails keep their order.
    pub to: String,
    /// The subject line (UTF-8).
    pub subject: String,
    /// The plain-text body (UTF-8).
    pub body: String,
    /// Copy recipients; left out of the JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    /// Where replies go, if not to `from`; left out of the JSON when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// The header that carries the id `mailer api` gave an e-mail (UTF-8). Retry copies and redriven
/// records keep it, as they keep every header that is not the chain's own.
pub const ID_HEADER: &str = "mailer-email-id";

impl EmailMessage {
    /// Gives a message its id: the JSON's `id` (messages written before the id moved to a
    /// header), else the [`ID_HEADER`], else the coordinates where it first entered Kafka
    /// (`email.send-0@7`), the same on every hop since retry copies carry them in
    /// `kafka_original-*`.
    pub fn identify(&mut self, record: &rebound::Record) {
        if !self.id.is_empty() {
            return;
        }
        if let Some(id) = record.headers().text(ID_HEADER).filter(|id| !id.is_empty()) {
            self.id = id;
            return;
        }
        self.id = Provenance::read(record.headers())
            .as_ref()
            .map(Provenance::coordinates)
            .filter(Coordinates::is_complete)
            .map_or_else(|| record.coordinates(), |first| first.to_string());
    }
}

/// The longest subject accepted, in characters: RFC 5322's limit on a header line.
pub const MAX_SUBJECT_CHARS: usize = 998;
/// The largest body accepted, in bytes of UTF-8.
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// The longest address accepted, in characters: RFC 5321's limit on a path.
pub const MAX_ADDRESS_CHARS: usize = 254;
/// The most `cc` addresses one e-mail may have.
pub const MAX_CC: usize = 20;
/// The longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

/// One bad field and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field as the request names it (`to`, `cc[2]`), or `(body)` for the whole request.
    pub field: String,
    /// What is wrong with it, to follow the field's name: `is required`, `must be a string`.
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    /// The sender: a valid address.
    pub from: String,
    /// The recipient: a valid address.
    pub to: String,
    /// The subject: not blank, one line, at most [`MAX_SUBJECT_CHARS`] characters.
    pub subject: String,
    /// The body: not empty, at most [`MAX_BODY_BYTES`] bytes.
    pub body: String,
    /// Copy recipients, each a valid address; at most [`MAX_CC`], empty if none were given.
    pub cc: Vec<String>,
    /// Where replies go, a valid address, if given.
    pub reply_to: Option<String>,
    /// The client's key for a retried request: the same key gets the first request's id back
    /// instead of a second e-mail.
    pub idempotency_key: Option<String>,
}

/// Validates a decoded JSON request, naming every bad field (not only the first).
pub fn validate(json: &serde_json::Value) -> Result<ValidRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(object) = json.as_object() else {
        return Err(vec![bad("(body)", "must be a JSON object")]);
    };
    let known = [
        "from",
        "to",
        "subject",
        "body",
        "cc",
        "reply_to",
        "idempotency_key",
    ];
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            errors.push(bad(key, "unknown field"));
        }
    }
    let text = |field: &str, errors: &mut Vec<FieldError>, required: bool| -> Option<String> {
        match object.get(field) {
            None | Some(serde_json::Value::Null) => {
                if required {
                    errors.push(bad(field, "is required"));
                }
                None
            }
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(bad(field, "must be a string"));
                None
            }
        }
    };
    let address =
        |field: &str, value: Option<String>, errors: &mut Vec<FieldError>| -> Option<String> {
            let value = value?;
            if value.chars().any(|c| c == '\r' || c == '\n') {
                errors.push(bad(
                    field,
                    "must not contain line breaks (header injection)",
                ));
                return None;
            }
            if value.chars().count() > MAX_ADDRESS_CHARS {
                errors.push(bad(
                    field,
                    format!("is longer than {MAX_ADDRESS_CHARS} characters"),
                ));
                return None;
            }
            match value.parse::<Address>() {
                Ok(_) => Some(value),
                Err(e) => {
                    errors.push(bad(field, format!("is not a valid e-mail address ({e})")));
                    None
                }
            }
        };
    let from = text("from", &mut errors, true);
    let from = address("from", from, &mut errors);
    let to = text("to", &mut errors, true);
    let to = address("to", to, &mut errors);
    let subject = text("subject", &mut errors, true);
    if let Some(s) = &subject {
        if s.trim().is_empty() {
            errors.push(bad("subject", "must not be empty"));
        } else if s.chars().any(|c| c == '\r' || c == '\n') {
            errors.push(bad(
                "subject",
                "must not contain line breaks (header injection)",
            ));
        } else if s.chars().count() > MAX_SUBJECT_CHARS {
            errors.push(bad(
                "subject",
                format!("is longer than {MAX_SUBJECT_CHARS} characters"),
            ));
        }
    }
    let body = text("body", &mut errors, true);
    if let Some(b) = &body {
        if b.is_empty() {
            errors.push(bad("body", "must not be empty"));
        } else if b.len() > MAX_BODY_BYTES {
            errors.push(bad(
                "body",
                format!("is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
    }
    let mut cc = Vec::new();
    match object.get("cc") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(items)) if items.len() <= MAX_CC => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("cc[{i}]");
                match item.as_str() {
                    Some(s) => cc.extend(address(&field, Some(s.to_string()), &mut errors)),
                    None => errors.push(bad(&field, "must be a string")),
                }
            }
        }
        Some(serde_json::Value::Array(_)) => {
            errors.push(bad("cc", format!("has more than {MAX_CC} addresses")))
        }
        Some(_) => errors.push(bad("cc", "must be an array of addresses")),
    }
    let reply_to = text("reply_to", &mut errors, false);
    let reply_to = address("reply_to", reply_to, &mut errors);
    let idempotency_key = text("idempotency_key", &mut errors, false);
    if let Some(k) = &idempotency_key {
        if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY {
            errors.push(bad(
                "idempotency_key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} bytes"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidRequest {
        from: from.expect("validated"),
        to: to.expect("validated"),
        subject: subject.expect("validated"),
        body: body.expect("validated"),
        cc,
        reply_to,
        idempotency_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_scenario_message_is_valid() {
        let ok = validate(&json!({"from":"sender@naver.com","to":"fail@naver.com","subject":"제목","body":"내용"})).unwrap();
        assert_eq!(ok.subject, "제목");
    }

    #[test]
    fn the_java_producers_message_is_named_by_where_it_entered_kafka() {
        // Byte for byte what the scenario's KafkaTemplate<String, String> sends: no id.
        let payload =
            r#"{"from":"sender@naver.com","to":"fail@naver.com","subject":"제목","body":"내용"}"#;
        let mut provenance = rebound::headers::Headers::new();
        provenance.push("kafka_original-topic", "email.send");
        provenance.push("kafka_original-partition", rebound::headers::encode_i32(0));
        provenance.push("kafka_original-offset", rebound::headers::encode_i64(7));
        let record = rebound::Record::new("email.send-retry-2000", 0, 3)
            .with_payload(payload)
            .with_headers(provenance)
            .with_attempt(3);
        let mut email: EmailMessage = record.json().unwrap();
        email.identify(&record);
        assert_eq!(email.id, "email.send-0@7", "the same id on every hop");
        assert_eq!(email.subject, "제목");

        let record = record.with_headers(rebound::headers::Headers::new());
        let mut first: EmailMessage = record.json().unwrap();
        first.identify(&record);
        assert_eq!(
            first.id, "email.send-retry-2000-0@3",
            "no provenance: its own place"
        );

        let mut old = EmailMessage {
            id: "01a2".into(),
            ..first
        };
        old.identify(&record);
        assert_eq!(old.id, "01a2", "an id in the JSON is kept");

        let mut with_id = rebound::headers::Headers::new();
        with_id.push(ID_HEADER, "01a3");
        let record = record.with_headers(with_id);
        let mut api: EmailMessage = record.json().unwrap();
        api.identify(&record);
        assert_eq!(api.id, "01a3", "the API's id header");
    }

    #[test]
    fn the_api_writes_the_scenarios_four_fields_and_nothing_else() {
        let message = EmailMessage {
            id: String::new(),
            from: "sender@naver.com".into(),
            to: "member@naver.com".into(),
            subject: "제목".into(),
            body: "내용".into(),
            cc: Vec::new(),
            reply_to: None,
        };
        assert_eq!(
            serde_json::to_string(&message).unwrap(),
            r#"{"from":"sender@naver.com","to":"member@naver.com","subject":"제목","body":"내용"}"#
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors =
            validate(&json!({"from":"nope","subject":"a\r\nBcc: x@y.z","body":""})).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "to", "subject", "body"]);
    }
}
