//! `mailer smtp-sink`: a small real SMTP server for the demo and tests. It speaks enough SMTP for
//! lettre (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), and answers as the scenario needs:
//! `fail@naver.com` gets `451` (transient: the retry chain), `nobody@naver.com` gets `550`
//! (permanent: straight to the DLT), anyone else is accepted. Each accepted message is printed
//! and appended to a file as one JSON line. `--answer-delay-ms` makes it answer each message that
//! much later, like a real relay (the benchmark's 50 ms server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// The server's settings (`mailer smtp-sink`'s flags).
pub struct SmtpSink {
    /// Where to listen for SMTP connections (`--listen`, default `127.0.0.1:2525`).
    pub listen: SocketAddr,
    /// The file each accepted message is appended to as one JSON line; `None` only prints it.
    pub out: Option<PathBuf>,
    /// Recipients answered `451` (transient), in lower case: a recipient is compared lowercased.
    pub transient: Vec<String>,
    /// Recipients answered `550` (permanent), in lower case: a recipient is compared lowercased.
    pub permanent: Vec<String>,
    /// How long the server takes to accept a message, after its last line.
    pub answer_delay: std::time::Duration,
}

impl SmtpSink {
    /// Listens on `listen` and serves every connection on its own task, until the process ends.
    pub async fn run(self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.listen).await?;
        tracing::info!(listen = %self.listen, "smtp-sink listening");
        println!("smtp-sink listening on {}", listener.local_addr()?);
        let sink = Arc::new(self);
        let file_lock = Arc::new(Mutex::new(()));
        loop {
            let (stream, _) = listener.accept().await?;
            let (sink, file_lock) = (sink.clone(), file_lock.clone());
            tokio::spawn(async move {
                if let Err(e) = sink.session(stream, &file_lock).await {
                    tracing::debug!(error = %e, "smtp session ended");
                }
            });
        }
    }

    fn reply_for(&self, rcpt: &str) -> &'static str {
        let rcpt = rcpt.to_ascii_lowercase();
        if self.permanent.contains(&rcpt) {
            "550 5.1.1 no such mailbox\r\n"
        } else if self.transient.contains(&rcpt) {
            "451 4.3.0 mailbox temporarily unavailable, try again later\r\n"
        } else {
            "250 2.1.5 ok\r\n"
        }
    }

    async fn session(&self, stream: TcpStream, file_lock: &Mutex<()>) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 smtp-sink ESMTP ready\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::<String>::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_string();
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                write
                    .write_all(b"250-smtp-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK\r\n")
                    .await?;
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                write.write_all(b"250 OK\r\n").await?;
            } else if upper.starts_with("MAIL FROM:") {
                from = address(&command[10..]);
                to.clear();
                write.write_all(b"250 2.1.0 ok\r\n").await?;
            } else if upper.starts_with("RCPT TO:") {
                let rcpt = address(&command[8..]);
                let reply = self.reply_for(&rcpt);
                if reply.starts_with("250") {
                    to.push(rcpt);
                }
                write.write_all(reply.as_bytes()).await?;
            } else if upper == "DATA" {
                if to.is_empty() {
                    write
                        .write_all(b"554 5.5.1 no valid recipients\r\n")
                        .await?;
                    continue;
                }
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    if lines.read_until(b'\n', &mut raw).await? == 0 {
                        return Ok(());
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    // Dot-stuffing: a leading ".." stands for ".".
                    let raw = if raw.starts_with(b"..") {
                        raw[1..].to_vec()
                    } else {
                        raw
                    };
                    data.extend_from_slice(&raw);
                }
                if !self.answer_delay.is_zero() {
                    tokio::time::sleep(self.answer_delay).await;
                }
                self.deliver(&from, &to, &data, file_lock).await?;
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            } else if upper == "RSET" {
                from.clear();
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            } else if upper == "QUIT" {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else {
                write
                    .write_all(b"502 5.5.2 command not recognized\r\n")
                    .await?;
            }
        }
    }

    async fn deliver(
        &self,
        from: &str,
        to: &[String],
        data: &[u8],
        file_lock: &Mutex<()>,
    ) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(data).into_owned();
        let subject = decoded_subject(&text);
        let body = decoded_body(&text);
        println!(
            "smtp-sink: received mail from {from} to {} subject {subject:?} body {body:?}",
            to.join(", ")
        );
        if let Some(path) = &self.out {
            let _guard = file_lock.lock().await;
            let line = serde_json::json!({"from": from, "to": to, "subject": subject, "body": body, "data": text});
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await?;
            file.write_all(format!("{line}\n").as_bytes()).await?;
        }
        Ok(())
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .strip_prefix('<')
        .and_then(|a| a.split('>').next())
        .unwrap_or_else(|| arg.split_whitespace().next().unwrap_or(""));
    inner.to_string()
}

/// The Subject header, with RFC 2047 encoded words (`=?utf-8?b?…?=`) decoded so that the
/// scenario's Korean subject can be checked as text.
pub fn decoded_subject(message: &str) -> String {
    let mut raw = String::new();
    let mut in_subject = false;
    for line in message.lines() {
        if line.is_empty() {
            break;
        }
        if in_subject && line.starts_with([' ', '\t']) {
            raw.push_str(line.trim_start());
            continue;
        }
        in_subject = line.to_ascii_lowercase().starts_with("subject:");
        if in_subject {
            raw.push_str(line[8..].trim());
        }
    }
    decode_words(&raw)
}

/// The body of a single-part message, decoded from its Content-Transfer-Encoding.
pub fn decoded_body(message: &str) -> String {
    let (head, body) = message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
        .unwrap_or((message, ""));
    let encoding = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-transfer-encoding:")
        })
        .map(|l| l[26..].trim().to_ascii_lowercase())
        .unwrap_or_default();
    let body = body.trim_end_matches(['\r', '\n']);
    let bytes = match encoding.as_str() {
        "base64" => base64_decode(&body.replace(['\r', '\n'], "")).unwrap_or_default(),
        "quoted-printable" => q_decode(&body.replace("=\r\n", "").replace('_', "=5F")),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

fn decode_words(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("=?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let decoded = (parts.len() == 3)
            .then(|| {
                parts[2]
                    .split_once("?=")
                    .map(|(data, after)| (parts[1], data, after))
            })
            .flatten()
            .and_then(|(enc, data, after)| {
                let bytes = match enc.to_ascii_lowercase().as_str() {
                    "b" => base64_decode(data)?,
                    "q" => q_decode(data),
                    _ => return None,
                };
                Some((String::from_utf8_lossy(&bytes).into_owned(), after))
            });
        match decoded {
            Some((word, after)) => {
                out.push_str(&word);
                rest = after.trim_start_matches([' ', '\t']);
                if !rest.starts_with("=?") && !rest.is_empty() {
                    out.push(' ');
                }
            }
            None => {
                out.push_str("=?");
                rest = word;
            }
        }
    }
    out.push_str(rest);
    out
}

fn q_decode(data: &str) -> Vec<u8> {
    let bytes = data.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' if i + 2 < bytes.len() => {
                if let Ok(b) = u8::from_str_radix(&data[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 2;
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn base64_decode(data: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in data.bytes().filter(|c| *c != b'=') {
        buffer = (buffer << 6) | value(c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_korean_subjects_decode() {
        // "제목" as lettre encodes it.
        assert_eq!(
            decoded_subject("From: a@b.c\r\nSubject: =?utf-8?b?7KCc66qp?=\r\n\r\nbody"),
            "제목"
        );
        assert_eq!(
            decoded_subject("Subject: plain words\r\n\r\n"),
            "plain words"
        );
    }
}
