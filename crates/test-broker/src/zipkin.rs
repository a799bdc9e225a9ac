//! Zipkin, the tracing backend of the demo and the tracing tests: the `io.zipkin:zipkin-server`
//! exec jar from Maven Central (copied once into `target/zipkin/`, about 130 MB), run on Java 17+
//! with in-memory storage, detached, one server per port (`REBOUND_ZIPKIN_PORT`, default 9411).
//!
//! Readiness and the tests' questions go over plain HTTP/1.0 written by hand (`get`): this crate
//! stays without an HTTP client, as it is without a Kafka client.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{kafka, process, workspace_root};

/// The pinned server version.
pub const VERSION: &str = "3.5.1";
/// Moves the server's port (default [`DEFAULT_PORT`]).
pub const PORT_ENV: &str = "REBOUND_ZIPKIN_PORT";
/// Zipkin's usual port.
pub const DEFAULT_PORT: u16 = 9411;
/// How long a start may take: about 4 s on an idle machine, far more on a busy 2-core one.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The port from `REBOUND_ZIPKIN_PORT`, else 9411.
pub fn configured_port() -> Result<u16> {
    match std::env::var(PORT_ENV) {
        Ok(port) if !port.trim().is_empty() => port
            .trim()
            .parse()
            .with_context(|| format!("{PORT_ENV}={port} is not a port number")),
        _ => Ok(DEFAULT_PORT),
    }
}

/// The base URL of the server on `port`: `http://127.0.0.1:<port>`.
pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn dir() -> PathBuf {
    workspace_root().join("target/zipkin")
}

fn pid_file(port: u16) -> PathBuf {
    dir().join(format!("zipkin-{port}.pid"))
}

/// The exec jar, copied from Maven Central through Maven on first use.
pub fn jar() -> Result<PathBuf> {
    let jar = dir().join(format!("zipkin-server-{VERSION}-exec.jar"));
    if jar.exists() {
        return Ok(jar);
    }
    fs::create_dir_all(dir())?;
    // Into a folder of our own, then renamed: two tests starting at once never see half a jar.
    let staging = dir().join(format!("partial-{}", std::process::id()));
    eprintln!(
        "test-broker: copying zipkin-server {VERSION} (exec jar, about 130 MB) from Maven Central into {} (once)",
        dir().display()
    );
    let status = Command::new("mvn")
        .args(["-B", "-q", "dependency:copy"])
        .arg(format!("-Dartifact=io.zipkin:zipkin-server:{VERSION}:jar:exec"))
        .arg(format!("-DoutputDirectory={}", staging.display()))
        .current_dir(dir())
        .stdin(Stdio::null())
        .status()
        .context("could not run mvn (Zipkin's jar comes from Maven Central through Maven: install Maven 3.6+)")?;
    let copied = staging.join(jar.file_name().expect("a file name"));
    if !status.success() || !copied.exists() {
        let _ = fs::remove_dir_all(&staging);
        bail!("`mvn dependency:copy` of zipkin-server {VERSION} failed ({status}); Maven Central must be reachable the first time");
    }
    let _ = fs::rename(&copied, &jar); // another process may have won the race: same jar
    let _ = fs::remove_dir_all(&staging);
    Ok(jar)
}

/// Starts Zipkin on `port` unless one already answers there, and waits until it is healthy.
pub fn start(port: u16) -> Result<()> {
    if healthy(port) {
        return Ok(());
    }
    let (java, jar) = (kafka::java()?, jar()?);
    let log = dir().join(format!("zipkin-{port}.log"));
    let out =
        fs::File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
    let child = Command::new(java)
        .args(["-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar"])
        .arg(&jar)
        .env("STORAGE_TYPE", "mem")
        .env("QUERY_PORT", port.to_string())
        .env("JAVA_OPTS", "")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Own process group: Ctrl-C in the terminal that started it does not stop it.
        .process_group(0)
        .spawn()
        .context("could not start zipkin-server")?;
    fs::write(pid_file(port), format!("{}\n", child.id()))?;
    let started = Instant::now();
    while started.elapsed() < READY_TIMEOUT {
        if healthy(port) {
            eprintln!(
                "test-broker: Zipkin {VERSION} ready at {} in {:.1} s (pid {})",
                url(port),
                started.elapsed().as_secs_f64(),
                child.id()
            );
            return Ok(());
        }
        if !process::is_alive(child.id()) {
            bail!(
                "zipkin-server exited at start; its log:\n{}",
                process::tail(&log, 30)
            );
        }
        std::thread::sleep(Duration::from_millis(200)); // polling a process's readiness
    }
    bail!(
        "zipkin-server did not answer /health within {READY_TIMEOUT:?}; its log:\n{}",
        process::tail(&log, 30)
    )
}

/// Stops the Zipkin this crate started on `port` (its spans are lost: in-memory storage).
pub fn stop(port: u16) -> Result<bool> {
    let Some(pid) = fs::read_to_string(pid_file(port))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return Ok(false);
    };
    let ours = process::cmdline(pid).is_some_and(|c| c.contains("zipkin-server"));
    if ours && process::is_alive(pid) {
        process::signal(pid, "TERM")?;
        let asked = Instant::now();
        while process::is_alive(pid) && asked.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if process::is_alive(pid) {
            process::signal(pid, "KILL")?;
        }
    }
    let _ = fs::remove_file(pid_file(port));
    Ok(ours)
}

/// Whether a Zipkin answers `/health` with 200 on `port`.
pub fn healthy(port: u16) -> bool {
    get(port, "/health").is_some_and(|(status, _)| status == 200)
}

/// `GET path` on 127.0.0.1:`port`: the status and the body, or `None` if nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_string()
        },
    ))
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chunked_body_is_joined() {
        let body = "5\r\n[{\"a\"\r\n3\r\n:1}\r\n1\r\n]\r\n0\r\n\r\n";
        assert_eq!(super::dechunk(body).unwrap(), "[{\"a\":1}]");
    }
}
