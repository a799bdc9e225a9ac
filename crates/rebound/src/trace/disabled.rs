//! The attempt span without the `opentelemetry` feature: nothing, at no cost.

use std::future::Future;

use super::traceparent::CopyParent;
use super::Outcome;
use crate::consumer::Context;
use crate::failure::{Failure, FailureClass};
use crate::record::Record;

/// No tracer without the feature.
pub(crate) struct Tracer;

impl Tracer {
    #[inline(always)]
    pub(crate) fn global() -> Self {
        Tracer
    }
}

/// Zero-sized: every method is empty and inlined away.
pub(crate) struct AttemptSpan;

/// What [`AttemptSpan::enter`] gives back: nothing to undo.
pub(crate) struct Entered;

impl AttemptSpan {
    #[inline(always)]
    pub(crate) fn start(_: &Context, _: &Record) -> Self {
        AttemptSpan
    }

    #[inline(always)]
    pub(crate) fn in_scope<F: Future>(&self, future: F) -> F {
        future
    }

    #[inline(always)]
    pub(crate) fn enter(&self) -> Entered {
        Entered
    }

    #[inline(always)]
    pub(crate) fn failed(&self, _: &Failure, _: FailureClass) {}

    #[inline(always)]
    pub(crate) fn copy_parent(&self) -> Option<CopyParent> {
        None
    }

    #[inline(always)]
    pub(crate) fn end(self, _: Outcome, _: Option<&str>) {}
}
