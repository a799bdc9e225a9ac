//! What the console knows about one DLT, in memory: a compact summary of every dead letter (not
//! its payload or headers: those are read from Kafka for the one being shown) and its failure
//! groups, for the DLT and for its archive alike ([`Letters`], one per [`Source`]), and the one
//! ledger both share, with each dead letter's history. Records and ledger entries are applied one
//! at a time as the followers read them, in any interleaving, so the state is the same whichever
//! arrives first. Pure: no I/O here.

use std::collections::HashMap;
use std::sync::Arc;

use rebound::headers::DiscardMarks;
use rebound::{EpochMillis, Record};
use rebound_ops::ledger::Entry;
use rebound_ops::stats::fingerprint;
use rebound_ops::{DeadLetter, DeadLetterId, History, Position, Source, Status};

/// One dead letter, as much as a list, a filter and a group need.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub position: Position,
    pub key: Option<Box<[u8]>>,
    /// The original topic, from the provenance headers.
    pub origin: Option<Box<str>>,
    /// The record's timestamp: when it reached the DLT, or (an archive copy) when it was
    /// archived. What `since` and `until` compare, as in `rebound dlt list [--archived]`.
    pub died_at: Option<EpochMillis>,
    /// Its failure message: an index into [`Letters::messages`] (many dead letters share one).
    pub message: u32,
    pub class: Box<str>,
    /// Index into [`Letters::groups`].
    pub group: u32,
    pub status: Status,
    pub attempts: Option<u32>,
    /// An archive copy's discard stamp (`None` in the DLT: boxed, so a DLT's summaries pay a
    /// pointer for it).
    pub discard: Option<Box<DiscardMarks>>,
}

/// Dead letters sharing a failure fingerprint.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub fingerprint: String,
    /// One message of the group, as it was.
    pub example: String,
    pub count: usize,
    pub first: Option<EpochMillis>,
    pub last: Option<EpochMillis>,
}

/// The dead letters of one topic (the DLT, or its archive), grouped and ordered.
#[derive(Debug)]
pub(crate) struct Letters {
    source: Source,
    pub letters: Vec<Summary>,
    by_position: HashMap<Position, u32>,
    /// Indices into `letters`, oldest first (by death, then position).
    pub order: Vec<u32>,
    pub groups: Vec<Group>,
    group_ids: HashMap<String, u32>,
    /// Every distinct failure message (whole: the error filter matches all of it, as
    /// `rebound dlt` does), each kept once, with its group: the fingerprint is worked out once
    /// per message, and a filter matches each message once, not each dead letter.
    pub messages: Vec<Arc<str>>,
    message_ids: HashMap<Arc<str>, u32>,
    message_groups: Vec<u32>,
}

/// The state of one DLT's index.
#[derive(Debug)]
pub(crate) struct DltState {
    pub dlt: Letters,
    /// `<dlt>.archive`: the copies of discarded dead letters (empty until its follower runs).
    pub archive: Letters,
    /// Every readable ledger entry with its offset, in ledger order.
    pub ledger: Vec<(i64, Entry)>,
    pub histories: HashMap<DeadLetterId, History>,
}

impl Default for DltState {
    fn default() -> Self {
        DltState {
            dlt: Letters::new(Source::Dlt),
            archive: Letters::new(Source::Archive),
            ledger: Vec::new(),
            histories: HashMap::new(),
        }
    }
}

impl DltState {
    /// The dead letters read from `source`.
    pub(crate) fn letters(&self, source: Source) -> &Letters {
        match source {
            Source::Archive => &self.archive,
            _ => &self.dlt,
        }
    }

    /// Takes a record of `source` in. A record seen before (a follower that started over) is
    /// ignored.
    pub(crate) fn add_record(&mut self, source: Source, record: Record) {
        let letters = match source {
            Source::Archive => &mut self.archive,
            _ => &mut self.dlt,
        };
        letters.add(record, &self.histories);
    }

    /// Takes the next ledger entry in (entries arrive in ledger order), single or range: each
    /// dead letter it names gets it in its history. Returns the status of each, in order.
    pub(crate) fn add_entry(&mut self, offset: i64, entry: Entry) -> Vec<(DeadLetterId, Status)> {
        let mut statuses = Vec::new();
        for (id, single) in entry.singles() {
            let history = self.histories.entry(id).or_default();
            history.apply(&single);
            let status = history.status();
            for letters in [&mut self.dlt, &mut self.archive] {
                if letters.source == id.source {
                    letters.set_status(id.position, status);
                }
            }
            statuses.push((id, status));
        }
        self.ledger.push((offset, entry));
        statuses
    }
}

impl Letters {
    fn new(source: Source) -> Self {
        Letters {
            source,
            letters: Vec::new(),
            by_position: HashMap::new(),
            order: Vec::new(),
            groups: Vec::new(),
            group_ids: HashMap::new(),
            messages: Vec::new(),
            message_ids: HashMap::new(),
            message_groups: Vec::new(),
        }
    }

    /// How many are indexed.
    pub(crate) fn len(&self) -> usize {
        self.letters.len()
    }

    fn add(&mut self, record: Record, histories: &HashMap<DeadLetterId, History>) {
        let dead_letter = DeadLetter::from_record(record);
        let position = dead_letter.position();
        if self.by_position.contains_key(&position) {
            return;
        }
        let died_at = dead_letter.died_at();
        let message = self.message_of(dead_letter.error_message());
        let group = self.message_groups[message as usize];
        self.count_in_group(group, died_at);
        let status = histories
            .get(&DeadLetterId::new(self.source, position))
            .map_or(Status::Pending, History::status);
        let discard = (self.source == Source::Archive)
            .then(|| Box::new(DiscardMarks::read(dead_letter.record.headers())));
        let summary = Summary {
            position,
            key: dead_letter.record.key().map(Box::from),
            origin: dead_letter.origin.as_ref().map(|o| o.topic.as_str().into()),
            died_at,
            class: dead_letter.error_class().into(),
            message,
            group,
            status,
            attempts: dead_letter.attempts,
            discard,
        };
        let index = self.letters.len() as u32;
        let sort_key = order_key(&summary);
        self.letters.push(summary);
        self.by_position.insert(position, index);
        // Records mostly arrive in time order: the insertion point is nearly always the end.
        let at = self
            .order
            .partition_point(|&i| order_key(&self.letters[i as usize]) <= sort_key);
        self.order.insert(at, index);
    }

    fn set_status(&mut self, position: Position, status: Status) {
        if let Some(&index) = self.by_position.get(&position) {
            self.letters[index as usize].status = status;
        }
    }

    /// The summary at `position`, if indexed.
    #[cfg(test)]
    pub(crate) fn get(&self, position: Position) -> Option<&Summary> {
        self.by_position
            .get(&position)
            .map(|&i| &self.letters[i as usize])
    }

    /// The group id of a fingerprint, if any dead letter has it.
    pub(crate) fn group_id(&self, fingerprint: &str) -> Option<u32> {
        self.group_ids.get(fingerprint).copied()
    }

    /// The first line of the message of `summary`.
    pub(crate) fn first_line(&self, summary: &Summary) -> String {
        let message = &self.messages[summary.message as usize];
        message.lines().next().unwrap_or("").to_string()
    }
    /// The id of `message`, interned now if new (with its group).
    fn message_of(&mut self, message: &str) -> u32 {
        if let Some(&id) = self.message_ids.get(message) {
            return id;
        }
        let print = fingerprint(message);
        let group = match self.group_ids.get(&print) {
            Some(&group) => group,
            None => {
                let group = self.groups.len() as u32;
                self.groups.push(Group {
                    fingerprint: print.clone(),
                    example: message.lines().next().unwrap_or("").to_string(),
                    count: 0,
                    first: None,
                    last: None,
                });
                self.group_ids.insert(print, group);
                group
            }
        };
        let id = self.messages.len() as u32;
        let text: Arc<str> = message.into();
        self.messages.push(text.clone());
        self.message_ids.insert(text, id);
        self.message_groups.push(group);
        id
    }

    fn count_in_group(&mut self, group: u32, died_at: Option<EpochMillis>) {
        let group = &mut self.groups[group as usize];
        group.count += 1;
        if let Some(at) = died_at {
            group.first = Some(group.first.map_or(at, |f| f.min(at)));
            group.last = Some(group.last.map_or(at, |l| l.max(at)));
        }
    }
}

/// How dead letters are ordered: by death (none counts as the epoch, as in `rebound dlt`), then
/// position.
pub(crate) fn order_key(summary: &Summary) -> (EpochMillis, Position) {
    (summary.died_at.unwrap_or_default(), summary.position)
}

#[cfg(test)]
pub(crate) mod tests {
    use rebound::headers::{self as h, Headers};
    use rebound_ops::ledger::Action;

    use super::*;

    /// A DLT record at `partition@offset` with `key`, failure `error`, dead at `died`.
    pub(crate) fn record(partition: i32, offset: i64, key: &str, error: &str, died: i64) -> Record {
        let mut headers = Headers::new();
        headers.push(h::EXCEPTION_MESSAGE, error.to_string());
        headers.push(h::ORIGINAL_TOPIC, "email.send".to_string());
        Record::new("email.send.dlt", partition, offset)
            .with_key(key.to_string())
            .with_headers(headers)
            .with_timestamp(EpochMillis::new(died))
    }

    pub(crate) fn entry(id: &str, action: Action) -> Entry {
        Entry {
            v: 1,
            dead_letter: id.parse().unwrap(),
            action,
            run: "r".into(),
            by: "alice".into(),
            at: EpochMillis::new(5),
            to: None,
            copy: None,
            reason: None,
            force: false,
            runs: Vec::new(),
            copies: Vec::new(),
        }
    }

    fn at(partition: i32, offset: i64) -> Position {
        Position { partition, offset }
    }

    /// An archive copy at `0@offset` of the dead letter at `0@of`, discarded for `reason`.
    pub(crate) fn archived(offset: i64, of: i64, key: &str, reason: &str, at: i64) -> Record {
        let dead = record(0, of, key, "550 no such user", 1);
        let headers = h::DiscardStamp {
            reason,
            by: "alice",
            at: EpochMillis::new(at),
            dead_letter: &format!("email.send.dlt-0@{of}"),
        }
        .headers_for(dead.headers());
        Record::new("email.send.dlt.archive", 0, offset)
            .with_key(key.to_string())
            .with_headers(headers)
            .with_timestamp(EpochMillis::new(at))
    }

    #[test]
    fn records_group_by_fingerprint_and_keep_time_order() {
        let mut state = DltState::default();
        let dlt = Source::Dlt;
        state.add_record(dlt, record(0, 0, "a", "451 mailbox busy", 300));
        state.add_record(dlt, record(1, 0, "b", "550 no such user", 100));
        state.add_record(dlt, record(0, 1, "c", "452 mailbox busy", 200));
        state.add_record(dlt, record(0, 1, "c", "452 mailbox busy", 200)); // seen again
        let letters = &state.dlt;
        assert_eq!(letters.len(), 3);
        let order: Vec<Position> = letters
            .order
            .iter()
            .map(|&i| letters.letters[i as usize].position)
            .collect();
        assert_eq!(order, [at(1, 0), at(0, 1), at(0, 0)]);
        let busy = &letters.groups[letters.group_id("<n> mailbox busy").unwrap() as usize];
        assert_eq!(busy.count, 2);
        assert_eq!(busy.first, Some(EpochMillis::new(200)));
        assert_eq!(busy.last, Some(EpochMillis::new(300)));
        assert_eq!(busy.example, "451 mailbox busy");
        // A message seen before is kept once and matched once.
        state.add_record(dlt, record(2, 0, "d", "451 mailbox busy", 400));
        let letters = &state.dlt;
        assert_eq!(letters.messages.len(), 3);
        assert_eq!(
            letters.get(at(2, 0)).unwrap().message,
            letters.get(at(0, 0)).unwrap().message
        );
        assert_eq!(
            letters.groups[letters.group_id("<n> mailbox busy").unwrap() as usize].count,
            3
        );
        assert!(letters.get(at(0, 0)).unwrap().discard.is_none());
        assert_eq!(state.archive.len(), 0);
    }

    #[test]
    fn the_ledger_sets_status_whichever_arrives_first() {
        let mut state = DltState::default();
        let status = |state: &DltState, source, position| {
            state.letters(source).get(position).unwrap().status
        };
        state.add_record(Source::Dlt, record(0, 0, "a", "boom", 1));
        state.add_entry(0, entry("0@0", Action::Claim));
        assert_eq!(status(&state, Source::Dlt, at(0, 0)), Status::Pending);
        state.add_entry(1, entry("0@0", Action::Redriven));
        assert_eq!(status(&state, Source::Dlt, at(0, 0)), Status::Redriven);
        // The entry about 0@1 comes before the record (the ledger follower was faster).
        state.add_entry(2, entry("0@1", Action::Discarded));
        state.add_record(Source::Dlt, record(0, 1, "b", "boom", 2));
        assert_eq!(status(&state, Source::Dlt, at(0, 1)), Status::Discarded);
        assert_eq!(state.ledger.len(), 3);
    }

    #[test]
    fn archive_copies_have_their_own_status_and_stamp() {
        let mut state = DltState::default();
        state.add_record(Source::Dlt, record(0, 0, "a", "boom", 1));
        state.add_record(Source::Dlt, record(0, 1, "b", "boom", 2));
        state.add_entry(0, entry("0@1", Action::Discarded));
        state.add_record(Source::Archive, archived(0, 1, "b", "member left", 9));
        let copy = state.archive.get(at(0, 0)).unwrap();
        assert_eq!(copy.status, Status::Pending, "not the DLT's 0@1 status");
        let stamp = copy.discard.as_deref().unwrap();
        assert_eq!(stamp.reason.as_deref(), Some("member left"));
        assert_eq!(stamp.dead_letter.as_deref(), Some("email.send.dlt-0@1"));
        // Entries about the archive set the copy's status, never the DLT's at the same position.
        state.add_entry(1, entry("archive:0@0", Action::Redriven));
        assert_eq!(
            state.archive.get(at(0, 0)).unwrap().status,
            Status::Redriven
        );
        assert_eq!(state.dlt.get(at(0, 0)).unwrap().status, Status::Pending);
        // An archive copy read after its entry (the ledger follower was faster) still gets it.
        state.add_entry(2, entry("archive:0@1", Action::Redriven));
        state.add_record(Source::Archive, archived(1, 0, "a", "spam", 10));
        assert_eq!(
            state.archive.get(at(0, 1)).unwrap().status,
            Status::Redriven
        );
    }
}
