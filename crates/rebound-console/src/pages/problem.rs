//! A request that cannot be served, as a page that says why and what to do (status, title,
//! detail), with the same headers and escaping as every page.

use std::borrow::Cow;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// A page for a refused or failed request.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    title: Cow<'static, str>,
    detail: String,
    back: Option<String>,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    title: &'a str,
    detail: &'a str,
    back: &'a Option<String>,
}

impl Problem {
    pub(crate) fn new(
        status: StatusCode,
        title: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            status,
            title: title.into(),
            detail: detail.into(),
            back: None,
        }
    }

    /// 400: a filter or form field that is wrong; the message says which.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "Check the request", detail)
    }

    /// 502: the cluster could not be asked.
    pub(crate) fn kafka(error: impl std::fmt::Display) -> Self {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            "Kafka did not answer",
            format!("{error}. Check the console's --brokers and -X settings and the cluster."),
        )
    }

    /// A link back to where the person was.
    pub(crate) fn with_back(mut self, back: String) -> Self {
        self.back = Some(back);
        self
    }
}

impl From<rebound_ops::Error> for Problem {
    fn from(error: rebound_ops::Error) -> Self {
        Problem::kafka(error)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let page = ProblemPage {
            title: &self.title,
            detail: &self.detail,
            back: &self.back,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.detail).into_response(),
        }
    }
}
