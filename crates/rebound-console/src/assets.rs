//! The console's static files, compiled into the binary and served from its own origin (no CDN,
//! so the CSP can say `script-src 'self'` and the console works offline).
//!
//! `assets/htmx.min.js` is htmx 2.0.11, `dist/htmx.min.js` of the npm package `htmx.org@2.0.11`
//! (`npm pack htmx.org@2.0.11`; npm's shasum of the tarball a85363c4c5af94cd634df04c4b83d06dd0e91aa7).
//! To update: `npm pack htmx.org@<version>`, copy `package/dist/htmx.min.js` over the file, read
//! its changelog for CSP-relevant changes, and put `sha256sum assets/htmx.min.js` into
//! [`HTMX_SHA256`]; the test below fails until the constant matches the file.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The vendored htmx.
pub(crate) const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
/// The SHA-256 of [`HTMX`], as `sha256sum` prints it.
pub(crate) const HTMX_SHA256: &str =
    "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717";
/// The stylesheet.
pub(crate) const CSS: &[u8] = include_bytes!("../assets/console.css");
/// The live updates of a DLT's pages (server-sent events); ours, small, readable as it is.
pub(crate) const LIVE: &[u8] = include_bytes!("../assets/live.js");

/// `GET /assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let (bytes, kind, etag) = match file.as_str() {
        "htmx.min.js" => (
            HTMX,
            "text/javascript; charset=utf-8",
            Some(format!("\"sha256-{HTMX_SHA256}\"")),
        ),
        "console.css" => (CSS, "text/css; charset=utf-8", None),
        "live.js" => (LIVE, "text/javascript; charset=utf-8", None),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response();
    // The pinned digest names htmx's bytes exactly: a cache can keep them until it changes.
    if let Some(Ok(etag)) = etag.map(|e| e.parse()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn htmx_is_the_pinned_file() {
        let digest: String = Sha256::digest(HTMX)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest, HTMX_SHA256,
            "assets/htmx.min.js changed: check it and update HTMX_SHA256"
        );
        let text = std::str::from_utf8(HTMX).unwrap();
        assert!(text.contains("2.0.11"), "the version named in the docs");
    }
}
