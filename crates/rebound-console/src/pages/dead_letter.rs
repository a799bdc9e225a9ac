//! `/dlt/{topic}/{id}`: one dead letter in full, decoded as `rebound dlt show` decodes it
//! (`rebound_ops::describe`): every header, the failure, the payload as pretty JSON, text or
//! hex, the stack trace folded, and its history from the ledger. The record itself is read from
//! Kafka by position (one record, not the topic); its history comes from the index.
//!
//! `{id}` is the dead letter's id as the ledger writes it: `0@5` in the DLT, `archive:0@5` for
//! an archived copy (`rebound dlt show --archived`), which also shows its discard stamp and
//! links to the dead letter it copies; a discarded dead letter links to its archived copy.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use rebound::headers::DiscardMarks;
use rebound::trace::traceparent::TraceParent;
use rebound_ops::describe::{header_text, payload, PayloadKind};
use rebound_ops::ledger::Action;
use rebound_ops::ledger::Entry;
use rebound_ops::visible::{line, lines};
use rebound_ops::{DeadLetter, DeadLetterId, Source};

use super::problem::Problem;
use super::rows::key_text;
use super::rows::DiscardCells;
use super::{index_of, render, time, Layout};
use crate::auth::guard::Caller;
use crate::index::query::Query;
use crate::AppState;

/// A ledger entry for a page (the ledger page shares it).
pub(crate) struct EntryRow {
    pub(crate) offset: i64,
    pub(crate) at: String,
    pub(crate) action: String,
    pub(crate) dead_letter: String,
    pub(crate) link: String,
    pub(crate) by: String,
    pub(crate) run: String,
    /// The ledger filtered to this entry's run.
    pub(crate) run_link: String,
    pub(crate) to: String,
    pub(crate) copy: String,
    /// A discard's archived copy.
    pub(crate) copy_link: Option<String>,
    pub(crate) reason: String,
    pub(crate) force: bool,
}

impl EntryRow {
    /// A row of `entry`, single or range (its dead letters as `3@17-40,45`, its link the first's,
    /// its copies as the first and how many): the ledger page's rows. A dead letter's page shows
    /// each entry as it is about that dead letter alone ([`Entry::about`]).
    pub(crate) fn new(dlt: &str, offset: i64, entry: &Entry) -> Self {
        let id = entry.dead_letters().next().unwrap_or(entry.dead_letter);
        let run = form_urlencoded::Serializer::new(String::new())
            .append_pair("run", &entry.run)
            .finish();
        EntryRow {
            offset,
            at: time(Some(entry.at)),
            action: format!("{:?}", entry.action).to_lowercase(),
            dead_letter: entry.dead_letters_text(),
            link: format!("/dlt/{dlt}/{id}"),
            by: line(&entry.by).into_owned(),
            run: line(&entry.run).into_owned(),
            run_link: format!("/dlt/{dlt}/ledger?{run}"),
            to: line(entry.to.as_deref().unwrap_or("-")).into_owned(),
            copy: match entry.copies.as_slice() {
                [] => entry.copy.map_or("-".into(), |c| c.to_string()),
                [one] => one.to_string(),
                [first, .., last] => format!("{first} … {last} ({} copies)", entry.copies.len()),
            },
            copy_link: archived_copy(dlt, entry).map(|(_, link)| link),
            reason: line(entry.reason.as_deref().unwrap_or_default()).into_owned(),
            force: entry.force,
        }
    }
}

/// Where a `discarded` entry's archived copy is, as text (`<dlt>.archive-0@5`) and its page.
fn archived_copy(dlt: &str, entry: &Entry) -> Option<(String, String)> {
    let copy = entry.copy.filter(|_| entry.action == Action::Discarded)?;
    let id = DeadLetterId::new(Source::Archive, copy);
    Some((
        copy.in_topic(&Source::Archive.topic(dlt)).to_string(),
        format!("/dlt/{dlt}/{id}"),
    ))
}

#[derive(Template)]
#[template(path = "dead_letter.html")]
struct DeadLetterPage {
    layout: Layout,
    dlt: String,
    /// Its id: `0@5`, or `archive:0@5`.
    id: String,
    /// The DLT's position, for the live status updates (none for an archived copy: the DLT
    /// page's events name DLT positions).
    live_position: Option<String>,
    archived: bool,
    /// An archived copy's discard stamp.
    discard: Option<DiscardCells>,
    /// A discarded dead letter's archived copy: its text and page.
    archived_at: Option<(String, String)>,
    status: &'static str,
    /// Who wrote it: `spring`, `connect`, `share-group`, `streams` or `unknown`.
    dialect: &'static str,
    /// Who failed it (a group, a connector), when its headers say.
    owner: Option<String>,
    /// What in its headers could not be read.
    warnings: Vec<String>,
    /// A share-group pointer whose source record was read: where it is (the payload shown is
    /// the source's).
    source: Option<String>,
    key: String,
    origin: String,
    attempts: String,
    first_failed: String,
    died: String,
    class: String,
    error: String,
    redriven: u32,
    /// Its trace in the tracing backend, when a template is configured and it has a `traceparent`.
    trace_link: Option<String>,
    payload_omitted: Option<String>,
    headers: Vec<(String, String)>,
    stacktrace: Option<String>,
    payload_kind: &'static str,
    payload: String,
    history: Vec<EntryRow>,
    can_act: bool,
    redrive_link: String,
    discard_link: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((topic, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let index = index_of(&state, &topic).await?;
    let id: DeadLetterId = id
        .parse()
        .map_err(|e| Problem::new(StatusCode::NOT_FOUND, "No such dead letter", format!("{e}")))?;
    let (source, position) = (id.source, id.position);
    let read_from = source.topic(&topic);
    let record = rebound_ops::reader::read_at(&state.kafka, &read_from, position)
        .await?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "No such dead letter",
                format!("There is no record at {position} in {read_from}."),
            )
        })?;
    let mut dl = DeadLetter::from_record(record);
    rebound_ops::pointer::resolve(&state.kafka, &mut dl).await;
    let (history, ledger_status, ledger_redrives, archived_at) = {
        let state = index.read();
        // Each entry about it, a range entry as it is about this one alone (its copy).
        let entries: Vec<(i64, Entry)> = state
            .ledger
            .iter()
            .filter_map(|(offset, e)| Some((*offset, e.about(id)?)))
            .collect();
        let archived_at = entries
            .iter()
            .rev()
            .find_map(|(_, e)| archived_copy(&topic, e));
        let rows = entries
            .iter()
            .map(|(offset, e)| EntryRow::new(&topic, *offset, e))
            .collect();
        let known = state.histories.get(&id);
        (
            rows,
            known.map_or(rebound_ops::Status::Pending, |h| h.status()),
            known.map_or(0, |h| h.redrives),
            archived_at,
        )
    };
    let archived = source == Source::Archive;
    let origin = dl
        .origin
        .as_ref()
        .map_or("-".into(), |o| o.coordinates().to_string());
    // A resolved share-group pointer shows its source record's payload.
    let (kind, payload_text) = payload(dl.body().payload());
    let one = Query {
        at: vec![position],
        source,
        ..Query::default()
    }
    .query_string(&[]);
    Ok(render(&DeadLetterPage {
        layout: Layout {
            live: (!archived).then(|| format!("/dlt/{topic}/live")),
            ..Layout::new(&state, &caller, format!("{topic} {id}"))
        },
        id: id.to_string(),
        live_position: (!archived).then(|| position.to_string()),
        archived,
        discard: archived.then(|| {
            DiscardCells::new(
                &topic,
                &DiscardMarks::read(dl.record.headers()),
                dl.died_at(),
            )
        }),
        archived_at,
        status: ledger_status.as_str(),
        dialect: dl.dialect.as_str(),
        owner: dl.owner.as_ref().map(|o| line(&o.to_string()).into_owned()),
        warnings: dl.warnings.iter().map(|w| line(w).into_owned()).collect(),
        source: dl
            .source
            .as_ref()
            .map(|s| line(&format!("{}-{}@{}", s.topic(), s.partition(), s.offset())).into_owned()),
        key: line(&key_text(dl.body().key())).into_owned(),
        origin: line(&origin).into_owned(),
        attempts: dl.attempts.map_or("-".into(), |a| a.to_string()),
        first_failed: time(dl.first_failed_at),
        died: time(dl.died_at()),
        class: line(dl.error_class()).into_owned(),
        error: lines(dl.error_message()).into_owned(),
        redriven: dl.redrive_count + ledger_redrives,
        trace_link: TraceParent::read(dl.record.headers())
            .and_then(|t| state.settings.trace_link(&t.trace_id_hex())),
        payload_omitted: dl
            .payload_omitted
            .as_deref()
            .map(|why| line(why).into_owned()),
        headers: dl
            .record
            .headers()
            .iter()
            .map(|h| {
                let value = header_text(&h.key, h.value.as_deref());
                (line(&h.key).into_owned(), lines(&value).into_owned())
            })
            .collect(),
        stacktrace: dl
            .failure
            .stacktrace
            .as_deref()
            .map(|t| lines(t).into_owned()),
        payload_kind: match kind {
            PayloadKind::Null => "null",
            PayloadKind::Json => "JSON",
            PayloadKind::Text => "text",
            _ => "hex",
        },
        payload: lines(&payload_text).into_owned(),
        history,
        can_act: caller.can_act(),
        redrive_link: format!("/dlt/{topic}/redrive?{one}"),
        discard_link: format!("/dlt/{topic}/discard?{one}"),
        dlt: topic,
    }))
}
