//! Redrive and discard, as a person does them in a browser. `GET /dlt/{topic}/redrive?…` (or
//! `/discard`) takes a selection (one dead letter, checked boxes, or everything a filter
//! selects), runs the operation as a dry run through `rebound_ops` (nothing written, not even a
//! claim) and shows its count, what would happen to each, and the equivalent `rebound dlt`
//! command. Its form POSTs the same selection with the count typed back; the server runs the
//! dry run again and starts the operation only if the typed count is what it finds now, so a
//! selection that grew in between is never acted on unseen. The operation itself is
//! `rebound_ops::redrive::redrive` or `rebound_ops::discard::discard`, run as a job: the same
//! ledger records as the command, written before each record is acted on.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use rebound::naming::archive_topic;
use rebound_ops::discard::DiscardOptions;
use rebound_ops::redrive::{Outcome, RedriveOptions};
use rebound_ops::{DeadLetterId, Filter, Position, Source};
use tokio_util::sync::CancellationToken;

use super::problem::Problem;
use super::watch_form::WatchForm;
use super::{index_of, render, Layout};
use crate::auth::guard::Caller;
use crate::command_line::command;
use crate::index::query::Query;
use crate::jobs::{self, Kind};
use crate::AppState;

/// Outcomes listed on the dry-run page; the rest are counted.
const LISTED: usize = 200;
/// The longest discard reason accepted.
const MAX_REASON: usize = 1_000;
/// The fastest `--rate` accepted from the web.
const MAX_RATE: f64 = 100_000.0;

#[derive(Template)]
#[template(path = "action.html")]
struct ActionPage {
    layout: Layout,
    dlt: String,
    kind: &'static str,
    title: &'static str,
    past: &'static str,
    back: String,
    message: Option<String>,
    selection: String,
    count: usize,
    skipped: usize,
    outcomes: Vec<(String, String)>,
    more: usize,
    hidden: Vec<(&'static str, String)>,
    rate: String,
    watch: WatchForm,
    reason: String,
    dry_run_command: String,
    command: String,
}

/// What an action form carries.
#[derive(Debug, Default)]
struct Form {
    query: Query,
    rate: String,
    /// A redrive's canary and self-pause.
    watch: WatchForm,
    reason: String,
    confirm: String,
}

impl Form {
    fn parse(text: &[u8]) -> Result<Form, Problem> {
        let query =
            Query::from_pairs(form_urlencoded::parse(text)).map_err(Problem::bad_request)?;
        let mut form = Form {
            query,
            ..Form::default()
        };
        for (name, value) in form_urlencoded::parse(text) {
            match name.as_ref() {
                "rate" => form.rate = value.trim().to_string(),
                "reason" => form.reason = value.trim().to_string(),
                "confirm" => form.confirm = value.trim().to_string(),
                other => form.watch.take(other, &value),
            }
        }
        Ok(form)
    }

    /// The rate cap: empty is none; else a number of records per second above 0.
    fn rate(&self) -> Result<Option<f64>, String> {
        if self.rate.is_empty() {
            return Ok(None);
        }
        match self.rate.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE => Ok(Some(rate)),
            _ => Err(format!(
                "the rate `{}` is not a number of records per second above 0 (at most {MAX_RATE})",
                self.rate
            )),
        }
    }

    /// The `rebound dlt` command doing the same (with `--dry-run` when `dry_run`).
    fn command(&self, kind: Kind, dlt: &str, dry_run: bool) -> String {
        let mut words = vec!["dlt".to_string(), kind.as_str().into(), dlt.into()];
        words.extend(self.query.cli_args());
        if kind == Kind::Redrive && !self.rate.is_empty() {
            words.extend(["--rate".into(), self.rate.clone()]);
        }
        if kind == Kind::Redrive {
            words.extend(self.watch.cli_args());
        }
        if kind == Kind::Discard {
            let reason = if self.reason.is_empty() {
                "<reason>".to_string()
            } else {
                self.reason.clone()
            };
            words.extend(["--reason".into(), reason]);
        }
        if dry_run {
            words.push("--dry-run".into());
        }
        command(&words)
    }
}

/// A dry run's result.
struct Dry {
    count: usize,
    skipped: usize,
    outcomes: Vec<(Position, String)>,
}

async fn dry_run(
    state: &AppState,
    dlt: &str,
    kind: Kind,
    filter: &Filter,
    by: &str,
    source: Source,
) -> Result<Dry, Problem> {
    match kind {
        Kind::Redrive => {
            let options = RedriveOptions {
                dry_run: true,
                source,
                ..RedriveOptions::new(by)
            };
            let report = rebound_ops::redrive::redrive(
                &state.kafka,
                dlt,
                filter,
                &options,
                &|_| {},
                &CancellationToken::new(),
            )
            .await?;
            let outcomes = report
                .outcomes
                .iter()
                .map(|(position, outcome)| (*position, redrive_text(outcome)))
                .collect();
            Ok(Dry {
                count: report.sent(),
                skipped: report.skipped(),
                outcomes,
            })
        }
        Kind::Discard => {
            let options = DiscardOptions {
                reason: "(dry run)".into(),
                by: by.to_string(),
                dry_run: true,
            };
            let report = rebound_ops::discard::discard(&state.kafka, dlt, filter, &options).await?;
            let mut outcomes: Vec<(Position, String)> = report
                .archived
                .iter()
                .map(|(position, _)| (*position, format!("archived into {}", archive_topic(dlt))))
                .collect();
            outcomes.extend(
                report
                    .skipped
                    .iter()
                    .map(|(position, why)| (*position, format!("skipped: {why}"))),
            );
            Ok(Dry {
                count: report.archived.len(),
                skipped: report.skipped.len(),
                outcomes,
            })
        }
    }
}

/// One redrive outcome in words (a dry run's has no copy position).
pub(crate) fn redrive_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Sent {
            topic,
            copy: Some(copy),
        } => format!("sent to {}", copy.in_topic(topic)),
        Outcome::Sent { topic, copy: None } => format!("sent to {topic}"),
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
    }
}

/// The selection in words.
fn describe(query: &Query) -> String {
    if query.source == Source::Archive && query.selects_all() {
        return "every archived copy of this DLT's discarded dead letters".into();
    }
    if query.selects_all() {
        return "every dead letter of this DLT".into();
    }
    let mut parts = Vec::new();
    if !query.key.is_empty() {
        parts.push(format!("key is “{}”", query.key));
    }
    if !query.error.is_empty() {
        parts.push(if query.regex {
            format!("error matches /{}/", query.error)
        } else {
            format!("error contains “{}”", query.error)
        });
    }
    if !query.origin.is_empty() {
        parts.push(format!("from {}", query.origin));
    }
    if !query.fingerprint.is_empty() {
        parts.push(format!("in the group “{}”", query.fingerprint));
    }
    if !query.since.is_empty() {
        parts.push(format!("died since {}", query.since));
    }
    if !query.until.is_empty() {
        parts.push(format!("died before {}", query.until));
    }
    if !query.status.is_empty() {
        parts.push(query.status.clone());
    }
    if !query.at.is_empty() {
        let at: Vec<String> = query.at.iter().map(|p| p.to_string()).collect();
        parts.push(format!("at {}", at.join(", ")));
    }
    if query.source == Source::Archive {
        parts.insert(0, "archived copies".into());
    }
    parts.join("; ")
}

fn titles(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Redrive => ("Redrive", "redriven"),
        Kind::Discard => ("Discard", "discarded"),
    }
}

/// The dry-run page for `form`, with `status` and an optional `message` on top.
#[allow(clippy::too_many_arguments)]
async fn dry_run_page(
    state: &AppState,
    caller: &Caller,
    dlt: &str,
    kind: Kind,
    form: &Form,
    status: StatusCode,
    message: Option<String>,
) -> Result<Response, Problem> {
    let back = format!("/dlt/{dlt}?{}", form.query.query_string(&[]));
    let compiled = form
        .query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(back.clone()))?;
    let dry = dry_run(
        state,
        dlt,
        kind,
        &compiled.ops_filter(),
        &caller.name,
        form.query.source,
    )
    .await?;
    let (title, past) = titles(kind);
    let more = dry.outcomes.len().saturating_sub(LISTED);
    Ok((
        status,
        render(&ActionPage {
            layout: Layout::new(state, caller, format!("{title} {dlt}")),
            dlt: dlt.to_string(),
            kind: kind.as_str(),
            title,
            past,
            back,
            message,
            selection: describe(&form.query),
            count: dry.count,
            skipped: dry.skipped,
            outcomes: dry
                .outcomes
                .into_iter()
                .take(LISTED)
                .map(|(p, what)| (DeadLetterId::new(form.query.source, p).to_string(), what))
                .collect(),
            more,
            hidden: form.query.pairs(),
            rate: form.rate.clone(),
            watch: form.watch.clone(),
            reason: form.reason.clone(),
            dry_run_command: form.command(kind, dlt, true),
            command: form.command(kind, dlt, false),
        }),
    )
        .into_response())
}

async fn form_page(
    state: AppState,
    caller: Caller,
    topic: String,
    raw: Option<String>,
    kind: Kind,
) -> Result<Response, Problem> {
    index_of(&state, &topic).await?;
    let raw = raw.unwrap_or_default();
    let form = Form::parse(raw.as_bytes())?;
    only_redrive_from_the_archive(kind, &form)?;
    // The list's "… selected" buttons with no box checked must not mean "everything".
    let from_boxes = form_urlencoded::parse(raw.as_bytes()).any(|(name, _)| name == "checked");
    if from_boxes && form.query.at.is_empty() {
        return Err(Problem::bad_request(
            "No dead letter was checked. Check the ones to act on, or use the buttons above the \
             list to act on everything the filter selects.",
        )
        .with_back(format!("/dlt/{topic}")));
    }
    if let Err(e) = form.rate() {
        return dry_run_page(
            &state,
            &caller,
            &topic,
            kind,
            &Form {
                rate: String::new(),
                ..form
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(e),
        )
        .await;
    }
    if let Err(e) = form.watch.options() {
        let form = Form {
            watch: WatchForm::default(),
            ..form
        };
        return dry_run_page(
            &state,
            &caller,
            &topic,
            kind,
            &form,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(e),
        )
        .await;
    }
    dry_run_page(&state, &caller, &topic, kind, &form, StatusCode::OK, None).await
}

/// `GET /dlt/{topic}/redrive`: the dry run and the confirmation form.
pub(crate) async fn redrive_form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    form_page(state, caller, topic, raw, Kind::Redrive).await
}

/// `GET /dlt/{topic}/discard`: the dry run and the confirmation form (with the reason).
pub(crate) async fn discard_form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    form_page(state, caller, topic, raw, Kind::Discard).await
}

/// Checks a submitted action and starts it, or answers the dry-run page with what is wrong.
async fn act(
    state: AppState,
    caller: Caller,
    topic: String,
    body: Bytes,
    kind: Kind,
) -> Result<Response, Problem> {
    index_of(&state, &topic).await?;
    let form = Form::parse(&body)?;
    only_redrive_from_the_archive(kind, &form)?;
    let refuse = |form: Form, status, message: String| {
        let (state, caller, topic) = (state.clone(), caller.clone(), topic.clone());
        async move { dry_run_page(&state, &caller, &topic, kind, &form, status, Some(message)).await }
    };
    let rate = match form.rate() {
        Ok(rate) => rate,
        Err(e) => {
            let form = Form {
                rate: String::new(),
                ..form
            };
            return refuse(form, StatusCode::UNPROCESSABLE_ENTITY, e).await;
        }
    };
    let (canary, pause_above) = match form.watch.options() {
        Ok(watch) => watch,
        Err(e) => {
            let form = Form {
                watch: WatchForm::default(),
                ..form
            };
            return refuse(form, StatusCode::UNPROCESSABLE_ENTITY, e).await;
        }
    };
    if kind == Kind::Discard {
        if form.reason.is_empty() {
            return refuse(
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
                "A reason is required to discard: it is kept with the archive copy and in the \
                 ledger, for whoever looks later. Nothing was discarded."
                    .into(),
            )
            .await;
        }
        if form.reason.chars().count() > MAX_REASON {
            return refuse(
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The reason is longer than {MAX_REASON} characters."),
            )
            .await;
        }
    }
    let back = format!("/dlt/{topic}?{}", form.query.query_string(&[]));
    let filter = form
        .query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(back))?
        .ops_filter();
    let dry = dry_run(
        &state,
        &topic,
        kind,
        &filter,
        &caller.name,
        form.query.source,
    )
    .await?;
    if dry.count == 0 {
        return refuse(
            form,
            StatusCode::CONFLICT,
            "Nothing in this selection can be acted on now; nothing was done.".into(),
        )
        .await;
    }
    if form.confirm != dry.count.to_string() {
        let message = if form.confirm.is_empty() {
            format!("Type {} to confirm. Nothing was done.", dry.count)
        } else {
            format!(
                "You typed {}, but the selection counts {} now. Check it and type {} to \
                 confirm. Nothing was done.",
                form.confirm, dry.count, dry.count
            )
        };
        return refuse(form, StatusCode::UNPROCESSABLE_ENTITY, message).await;
    }
    let job = state.jobs.create(
        kind,
        &topic,
        &caller.name,
        form.query.source,
        form.command(kind, &topic, false),
        format!(
            "/dlt/{topic}/{}?{}",
            kind.as_str(),
            form.query.query_string(&[])
        ),
    );
    tracing::info!(
        job = %job.id, dlt = %topic, by = %caller.name, count = dry.count,
        "starting a {} from the console", kind.as_str()
    );
    let (kafka, running) = (state.kafka.clone(), job.clone());
    match kind {
        Kind::Redrive => {
            let options = RedriveOptions {
                rate,
                canary,
                pause_above,
                source: form.query.source,
                ..RedriveOptions::new(caller.name.clone())
            };
            tokio::spawn(async move {
                let progress = |now| running.progress(now);
                let result = rebound_ops::redrive::redrive(
                    &kafka,
                    &topic,
                    &filter,
                    &options,
                    &progress,
                    &running.cancel,
                )
                .await;
                running.finish(match result {
                    Ok(report) => jobs::Outcome::Redrive(report),
                    Err(e) => jobs::Outcome::Failed(format!(
                        "the redrive failed: {e}; what was sent is recorded in the ledger"
                    )),
                });
            });
        }
        Kind::Discard => {
            let options = DiscardOptions {
                reason: form.reason.clone(),
                by: caller.name.clone(),
                dry_run: false,
            };
            tokio::spawn(async move {
                let result = rebound_ops::discard::discard(&kafka, &topic, &filter, &options).await;
                running.finish(match result {
                    Ok(report) => jobs::Outcome::Discard(report),
                    Err(e) => jobs::Outcome::Failed(format!(
                        "the discard failed: {e}; what was archived is recorded in the ledger"
                    )),
                });
            });
        }
    }
    Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
}

/// An archived copy is redriven, never discarded again: `rebound_ops::discard` reads the DLT, so
/// a discard "from the archive" would act on the DLT's dead letters at the archive's positions.
fn only_redrive_from_the_archive(kind: Kind, form: &Form) -> Result<(), Problem> {
    if kind == Kind::Discard && form.query.source == Source::Archive {
        return Err(Problem::bad_request(
            "Archived copies are already discarded; they can only be redriven. Nothing was done.",
        ));
    }
    Ok(())
}

/// `POST /dlt/{topic}/redrive`.
pub(crate) async fn redrive(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    act(state, caller, topic, body, Kind::Redrive).await
}

/// `POST /dlt/{topic}/discard`.
pub(crate) async fn discard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    act(state, caller, topic, body, Kind::Discard).await
}
