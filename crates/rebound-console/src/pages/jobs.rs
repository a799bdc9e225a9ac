//! `/jobs/{id}`: an action's progress while it runs (live from `/jobs/{id}/events` with
//! JavaScript, by reloading every two seconds without), then its result for every dead letter.
//! `POST /jobs/{id}/cancel` stops a redrive between records: what was sent is recorded, the rest
//! released in the ledger.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::actions::redrive_text;
use super::problem::Problem;
use super::{render, time, Layout};
use crate::auth::guard::Caller;
use crate::jobs::{Job, Kind, Outcome};
use crate::AppState;
use rebound::naming::archive_topic;
use rebound_ops::redrive::{RedriveProgress, RedriveReport};
use rebound_ops::DeadLetterId;

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    layout: Layout,
    id: String,
    kind: &'static str,
    dlt: String,
    by: String,
    started: String,
    command: String,
    running: bool,
    progress: String,
    can_act: bool,
    summary: String,
    /// Why a redrive paused itself.
    paused: Option<String>,
    /// The form for the same selection, when a redrive stopped before its end.
    again: Option<String>,
    error: Option<String>,
    outcomes: Vec<(String, String)>,
    more: usize,
}

/// Results listed on a job's page.
const LISTED: usize = 1_000;

pub(super) fn job(state: &AppState, id: &str) -> Result<std::sync::Arc<Job>, Problem> {
    state.jobs.get(id).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "No such job",
            "The console keeps recent jobs only (and none across restarts); the ledger has \
             every action.",
        )
    })
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job(&state, &id)?;
    let outcome = job.outcome();
    let (summary, error, outcomes): (String, Option<String>, Vec<(String, String)>) = match &outcome
    {
        None => (String::new(), None, Vec::new()),
        Some(Outcome::Redrive(report)) => (
            redrive_summary(report),
            None,
            report
                .outcomes
                .iter()
                // Positions in the job's source: `archive:0@3` for a redrive from the archive.
                .map(|(p, o)| {
                    (
                        DeadLetterId::new(job.source, *p).to_string(),
                        redrive_text(o),
                    )
                })
                .collect(),
        ),
        Some(Outcome::Discard(report)) => {
            let archive = archive_topic(&job.dlt);
            (
                format!(
                    "Discarded {} into {archive}, skipped {}.",
                    report.archived.len(),
                    report.skipped.len()
                ),
                None,
                report
                    .archived
                    .iter()
                    .map(|(p, copy)| {
                        let copy = match copy {
                            Some(copy) => copy.in_topic(&archive).to_string(),
                            None => archive.clone(),
                        };
                        (p.to_string(), format!("archived at {copy}"))
                    })
                    .chain(
                        report
                            .skipped
                            .iter()
                            .map(|(p, why)| (p.to_string(), format!("skipped: {why}"))),
                    )
                    .collect(),
            )
        }
        Some(Outcome::Failed(error)) => ("Failed.".into(), Some(error.clone()), Vec::new()),
    };
    // A redrive of a hundred thousand lists the first thousand; the ledger has every one.
    let more = outcomes.len().saturating_sub(LISTED);
    let outcomes: Vec<(String, String)> = outcomes.into_iter().take(LISTED).collect();
    let mut layout = Layout::new(
        &state,
        &caller,
        format!("{} {}", job.kind.as_str(), job.dlt),
    );
    if outcome.is_none() {
        layout.refresh = Some(2);
        layout.refresh_only_without_script = true;
        layout.live = Some(format!("/jobs/{}/events", job.id));
    }
    let report = match &outcome {
        Some(Outcome::Redrive(report)) => Some(report),
        _ => None,
    };
    let stopped_early = report.is_some_and(|r| r.interrupted || r.paused.is_some());
    Ok(render(&JobPage {
        layout,
        id: job.id.clone(),
        kind: job.kind.as_str(),
        dlt: job.dlt.clone(),
        by: job.by.clone(),
        started: time(Some(job.started)),
        command: job.command.clone(),
        running: outcome.is_none(),
        progress: progress_text(job.kind, &job.latest()),
        can_act: caller.can_act(),
        summary,
        paused: report
            .and_then(|r| r.paused.as_ref())
            .map(|p| p.to_string()),
        again: stopped_early.then(|| job.again.clone()),
        error,
        outcomes,
        more,
    }))
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job(&state, &id)?;
    job.cancel.cancel();
    Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
}

/// A finished redrive in a sentence.
fn redrive_summary(report: &RedriveReport) -> String {
    let mut text = format!("Sent {}, skipped {}", report.sent(), report.skipped());
    if report.returned > 0 {
        text += &format!("; {} came back to the DLT while it ran", report.returned);
    }
    if report.paused.is_some() {
        text += " (paused itself: the rest were released)";
    } else if report.interrupted {
        text += " (stopped before the end)";
    }
    text + "."
}

/// A running job's progress in a sentence: what the page shows and its live events carry.
pub(super) fn progress_text(kind: Kind, now: &RedriveProgress) -> String {
    if kind == Kind::Discard {
        return "Running: archiving and recording each dead letter.".into();
    }
    if now.total == 0 {
        return "Running: claiming the selection in the ledger.".into();
    }
    let mut text = format!("Running: {} of {} sent", now.sent, now.total);
    if now.returned > 0 {
        text += &format!(", {} came back to the DLT", now.returned);
    }
    if let Some(left) = now.waiting_until.and_then(|until| until.time_until()) {
        text += &format!(
            "; the canary is out, the rest follows in {} s unless too many come back",
            left.as_secs() + 1
        );
    }
    text + "."
}
