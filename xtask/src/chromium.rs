//! The web console's end-to-end tests drive Debian's Chromium through its ChromeDriver; `cargo
//! xtask test` installs both when they are missing (about 160 MB of packages, once), as it
//! fetches Kafka's jars, so the README's test command needs nothing done by hand. With them a
//! Korean font (Nanum), so the screenshots the tests take show 제목 and 내용, not boxes (the
//! tests check the text either way).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

const BINARIES: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];
/// The Korean font's file, from `fonts-nanum`.
const FONT: &str = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf";
const PACKAGES: [&str; 3] = ["chromium", "chromium-driver", "fonts-nanum"];

/// Installs Debian's `chromium` and `chromium-driver` with apt-get unless both are there: as
/// root, or through `sudo -n` (never a password prompt in a test run).
pub(crate) fn ensure() -> Result<()> {
    if BINARIES
        .iter()
        .chain([&FONT])
        .all(|b| Path::new(b).exists())
    {
        return Ok(());
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!(
            "the console's browser tests need Chromium and ChromeDriver at {} and {}, and this \
             machine has no apt-get to install them: install them, or run the other tests with \
             `cargo xtask test -- --skip browser`",
            BINARIES[0],
            BINARIES[1]
        );
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    eprintln!(
        "xtask: installing Debian's {} for the console's browser tests (once, about 170 MB)",
        PACKAGES.join(", ")
    );
    let apt = |args: &[&str]| -> Result<bool> {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        Ok(cmd
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?
            .success())
    };
    let mut install = vec!["install", "-y", "-q"];
    install.extend(PACKAGES);
    // A machine whose package lists are stale (or empty) needs them read first.
    let installed = apt(&install)? || (apt(&["update", "-q"])? && apt(&install)?);
    if !installed {
        bail!(
            "could not install {} (needs root or passwordless sudo): run `sudo apt-get install {}`",
            PACKAGES.join(", "),
            PACKAGES.join(" ")
        );
    }
    Ok(())
}
