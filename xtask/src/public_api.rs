//! `cargo xtask public-api`: the library crates' public API as a committed listing, so a change
//! to what users can name shows in review and in CI, not after a release.
//!
//! Each crate's rustdoc JSON is turned into one line per public item by the `public-api` crate
//! and compared with `crates/<crate>/public-api.txt`. Rustdoc writes JSON only when unstable
//! options are allowed: `RUSTC_BOOTSTRAP=1` allows them on the stable toolchain CI already has,
//! so the check needs no nightly and no network.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The crates users depend on; the others are the project's own tools.
const LIBRARY_CRATES: [&str; 2] = ["rebound", "rebound-ops"];

/// Compares each library crate's public API with its listing; with `bless`, writes the listing
/// instead. Fails naming what was added and removed.
pub(crate) fn check(root: &Path, target: &Path, bless: bool) -> Result<()> {
    let mut changed = Vec::new();
    for krate in LIBRARY_CRATES {
        let now = listing(root, target, krate)?;
        let file = root.join("crates").join(krate).join("public-api.txt");
        if bless {
            std::fs::write(&file, &now).with_context(|| format!("writing {}", file.display()))?;
            println!(
                "{krate}: {} public items written to {}",
                now.lines().count(),
                file.display()
            );
            continue;
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if committed == now {
            println!(
                "{krate}: public API unchanged ({} items)",
                now.lines().count()
            );
            continue;
        }
        let (before, after): (BTreeSet<&str>, BTreeSet<&str>) =
            (committed.lines().collect(), now.lines().collect());
        eprintln!("{krate}: the public API changed");
        for removed in before.difference(&after) {
            eprintln!("  - {removed}");
        }
        for added in after.difference(&before) {
            eprintln!("  + {added}");
        }
        changed.push(krate);
    }
    if !changed.is_empty() {
        bail!(
            "the public API of {} changed: if that is meant, say what changed in CHANGELOG.md \
             (Unreleased) and run `cargo xtask public-api --bless` to update the listing",
            changed.join(" and ")
        );
    }
    Ok(())
}

/// The public API of `krate` (its default features), one item a line.
fn listing(root: &Path, target: &Path, krate: &str) -> Result<String> {
    let status = super::cargo()
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["rustdoc", "-q", "--locked", "--lib", "-p", krate, "--"])
        .args(["-Z", "unstable-options", "--output-format", "json"])
        .status()
        .context("running cargo rustdoc")?;
    if !status.success() {
        bail!("cargo rustdoc -p {krate} failed");
    }
    let json = target
        .join("doc")
        .join(format!("{}.json", krate.replace('-', "_")));
    let api = public_api::Builder::from_rustdoc_json(&json)
        .build()
        .with_context(|| format!("reading {}", json.display()))?;
    Ok(api.items().map(|item| format!("{item}\n")).collect())
}
