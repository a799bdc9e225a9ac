//! Which build of the Spring peer (`interop/spring-email`) a run uses, and whether its jar is up
//! to date: the interop tests (which build it) and the benchmark (which only runs it) choose it
//! the same way, from `REBOUND_SPRING_BOOT`.

use std::path::{Path, PathBuf};

use crate::process::newest;

/// One build of the Spring peer: Spring Boot 3.5 (`pom.xml`, the default) or, with
/// `REBOUND_SPRING_BOOT=4`, Spring Boot 4 (`pom-boot4.xml`).
#[derive(Debug, Clone)]
pub struct SpringBuild {
    /// The Maven project, `interop/spring-email`.
    pub project: PathBuf,
    /// Its POM for this build, relative to the project.
    pub pom: &'static str,
    /// The runnable jar this build writes.
    pub jar: PathBuf,
}

impl SpringBuild {
    /// The build `REBOUND_SPRING_BOOT` asks for (3 when unset), or why that value means none.
    pub fn chosen() -> Result<SpringBuild, String> {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/spring-email");
        let project = project.canonicalize().unwrap_or(project);
        let (pom, jar) = match std::env::var("REBOUND_SPRING_BOOT").as_deref() {
            Ok("4") => ("pom-boot4.xml", "target/boot4/spring-email-boot4.jar"),
            Ok("3") | Err(_) => ("pom.xml", "target/spring-email.jar"),
            Ok(other) => return Err(format!("REBOUND_SPRING_BOOT={other}: 3 (default) or 4")),
        };
        Ok(SpringBuild {
            jar: project.join(jar),
            project,
            pom,
        })
    }

    /// Whether the jar exists.
    pub fn is_built(&self) -> bool {
        self.jar.exists()
    }

    /// Whether the jar exists and is no older than its POM and every source.
    pub fn is_fresh(&self) -> bool {
        let Some(built) = newest(&self.jar) else {
            return false;
        };
        let sources = newest(&self.project.join(self.pom)).max(newest(&self.project.join("src")));
        sources.is_none_or(|sources| sources <= built)
    }
}
