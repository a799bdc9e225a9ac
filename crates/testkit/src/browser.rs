//! A real headless Chromium for end-to-end tests of the web console: Debian's `chromium`, driven
//! through its `chromedriver` (WebDriver) by fantoccini. `.ci/run` installs both packages; a test
//! without them fails at once saying how to install them.
//!
//! Each [`Browser`] is its own `chromedriver` on a free port with a fresh, empty profile, so
//! tests run in parallel and no cookie or cache passes between them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

/// The WebDriver client the tests drive the browser with (`Locator`, `Client`...).
pub use fantoccini;
use serde_json::json;

use crate::process::{free_port, temp_dir};

/// Where Debian's `chromium-driver` package puts the driver.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium session; the driver and the browser end when it is dropped.
pub struct Browser {
    /// The WebDriver session: `goto`, `find`, `screenshot`...
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts a driver and opens a session with a 1280×900 window.
    pub async fn start() -> Browser {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (`apt-get install chromium chromium-driver`; .ci/run does)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let profile = temp_dir("chromium-profile");
        // The closed network of the test machines refuses Chromium's background connections
        // (updates, sync, QUIC probes) by the dozen; these flags stop it from making them.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            "--lang=ko-KR",
        ]
        .into_iter()
        .map(String::from)
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => {
                    panic!("no WebDriver session from {CHROMEDRIVER} within 30 s: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Ends the session (closing the browser), then the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
