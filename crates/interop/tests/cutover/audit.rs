//! The audit of one test: each e-mail against its walk, its report and its assertions.

use super::*;

/// The audit of one test: each e-mail against its walk.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    pub(crate) sent: usize,
    /// E-mails whose walk ended: sent, or dead-lettered and their dead letter handled.
    pub(crate) delivered: usize,
    /// Deliveries beyond one per e-mail and stage.
    pub(crate) duplicates: usize,
    /// Records beyond one per e-mail in a retry topic or the DLT.
    pub(crate) extra_copies: usize,
    /// E-mails whose walk did not end.
    pub(crate) lost: Vec<String>,
    /// E-mails the side that took over handled again at a stage the other side had finished.
    pub(crate) rehandled: Vec<String>,
    /// Anything else off the walk: a stage skipped or not of the walk, a wrong attempt number,
    /// a delivery before its due time, a payload not as sent, a wrong outcome.
    pub(crate) problems: Vec<String>,
    pub(crate) by_spring: usize,
    pub(crate) by_rebound: usize,
    /// The audit's rows, one per e-mail (markdown).
    pub(crate) table: String,
}

impl Audit {
    pub(crate) fn summary(&self) -> String {
        format!(
            "sent {}, delivered {}, duplicates {}, lost {}, extra copies {}, re-handled from an \
             earlier stage {} (deliveries: Spring {}, Rebound {})",
            self.sent,
            self.delivered,
            self.duplicates,
            self.lost.len(),
            self.extra_copies,
            self.rehandled.len(),
            self.by_spring,
            self.by_rebound
        )
    }
}

pub(crate) fn problem(audit: &mut Audit, mail: &Mail, what: String) {
    audit.problems.push(format!("{}: {what}", mail.to));
}

/// Holds every e-mail of `mails` to its walk. `taken_over_by`: the side that took over at the
/// cut, whose deliveries must all be at stages the other side had not finished.
pub(crate) fn audit(
    mails: &[Mail],
    deliveries: &[Delivery],
    chain: &[String],
    taken_over_by: Option<&str>,
) -> Audit {
    let copies: Vec<Vec<Record>> = chain[1..].iter().map(|t| read_all(t)).collect();
    let mut audit = Audit {
        sent: mails.len(),
        by_spring: deliveries.iter().filter(|d| d.by == "Spring").count(),
        by_rebound: deliveries.iter().filter(|d| d.by == "Rebound").count(),
        ..Audit::default()
    };
    audit.table = format!(
        "| e-mail | walk | {} | copies | verdict |\n|---|---|{}---|---|\n",
        STAGES.join(" | "),
        "---|".repeat(STAGES.len())
    );
    for d in deliveries {
        if !mails.iter().any(|m| m.to == d.to) {
            audit
                .problems
                .push(format!("a delivery of no e-mail sent: {d:?}"));
        }
    }
    for mail in mails {
        let walk = mail.kind.walk();
        let mine: Vec<&Delivery> = deliveries.iter().filter(|d| d.to == mail.to).collect();
        let mut cells = Vec::new();
        for (stage, name) in STAGES.iter().enumerate() {
            let here: Vec<&&Delivery> = mine.iter().filter(|d| d.stage == stage).collect();
            cells.push(
                here.iter()
                    .map(|d| match d.by {
                        "Spring" => "S",
                        _ => "R",
                    })
                    .collect::<Vec<_>>()
                    .join("+"),
            );
            audit.duplicates += here.len().saturating_sub(1);
            if !walk.contains(&stage) && !here.is_empty() {
                problem(
                    &mut audit,
                    mail,
                    format!("delivered at {name}, not of its walk"),
                );
            }
            for d in &here {
                if stage != DLT && d.attempt != Some(stage as u32 + 1) {
                    problem(
                        &mut audit,
                        mail,
                        format!("attempt {:?} at {name}", d.attempt),
                    );
                }
                if let Some(due) = d.due {
                    if d.at < due {
                        problem(
                            &mut audit,
                            mail,
                            format!("{} handled it at {name} {} ms early", d.by, due - d.at),
                        );
                    }
                }
                if d.payload != mail.payload {
                    problem(
                        &mut audit,
                        mail,
                        format!("payload at {name}: {}", d.payload),
                    );
                }
                let expected = match stage == *walk.last().unwrap() {
                    true => Outcome::Handled,
                    false => Outcome::Failed,
                };
                if d.outcome.is_some_and(|o| o != expected) {
                    problem(&mut audit, mail, format!("{:?} at {name}", d.outcome));
                }
            }
        }
        // The copies: one in every topic the walk sends it to, the payload as sent, the blog's
        // message in a failing e-mail's dead letter.
        let mut copy_cells = Vec::new();
        for (i, records) in copies.iter().enumerate() {
            let stage = i + 1;
            let mine: Vec<&Record> = records
                .iter()
                .filter(|r| r.key_text().as_deref() == Some(mail.to.as_str()))
                .collect();
            let expected = usize::from(walk.contains(&stage));
            audit.extra_copies += mine.len().saturating_sub(expected);
            copy_cells.push(mine.len().to_string());
            for record in &mine {
                if testkit::text(record) != mail.payload {
                    problem(&mut audit, mail, format!("copy in {}", STAGES[stage]));
                }
            }
            if expected == 1 && mine.is_empty() && finished(deliveries, mail) {
                problem(&mut audit, mail, format!("no copy in {}", STAGES[stage]));
            }
            if stage == DLT && mail.kind == Kind::Fail {
                for record in &mine {
                    let message = record.headers().text(h::EXCEPTION_MESSAGE);
                    if !message.as_deref().is_some_and(|m| m.contains(KOREAN)) {
                        problem(
                            &mut audit,
                            mail,
                            format!("dead letter's message {message:?}"),
                        );
                    }
                }
            }
        }
        // A stage of the walk skipped on the way to a later one.
        let reached = mine.iter().map(|d| d.stage).max();
        for stage in walk {
            if reached.is_some_and(|r| r > *stage) && !mine.iter().any(|d| d.stage == *stage) {
                problem(
                    &mut audit,
                    mail,
                    format!("stage {} skipped", STAGES[*stage]),
                );
            }
        }
        // The side that took over starts where the other one left the e-mail.
        let mut verdict = "ok".to_string();
        if let Some(new) = taken_over_by {
            let old_done = mine
                .iter()
                .filter(|d| d.by != new && d.outcome.is_some())
                .map(|d| d.stage)
                .max();
            let new_first = mine.iter().filter(|d| d.by == new).map(|d| d.stage).min();
            if let (Some(old), Some(first)) = (old_done, new_first) {
                if first <= old {
                    audit.rehandled.push(mail.to.clone());
                    verdict = format!("re-handled from {}", STAGES[first]);
                }
            }
        }
        if finished(deliveries, mail) {
            audit.delivered += 1;
        } else {
            audit.lost.push(mail.to.clone());
            verdict = "lost".into();
        }
        let _ = writeln!(
            audit.table,
            "| {} | {:?} | {} | {} | {verdict} |",
            mail.to,
            mail.kind,
            cells.join(" | "),
            copy_cells.join("/")
        );
    }
    audit
}

/// Writes the audit to `target/interop/cutover-<test>-boot<3|4>.md` and prints its summary.
pub(crate) fn report(test: &str, notes: &str, audit: &Audit) {
    let boot = std::env::var("REBOUND_SPRING_BOOT").unwrap_or_else(|_| "3".into());
    let out = repo_root().join("target/interop");
    std::fs::create_dir_all(&out).unwrap();
    let text = format!(
        "# {test} (Spring Boot {boot})\n\n{notes}\n\n{}\n\nS: Spring, R: Rebound; copies: records \
         in -retry-1000/…/-retry-8000/.dlt.\n\n{}",
        audit.summary(),
        audit.table
    );
    std::fs::write(out.join(format!("cutover-{test}-boot{boot}.md")), text).unwrap();
    eprintln!("{test} (Boot {boot}): {notes}; {}", audit.summary());
}

/// The checks every test makes, whatever it allows in duplicates.
pub(crate) fn assert_walks(audit: &Audit) {
    assert!(
        audit.lost.is_empty(),
        "lost: {:?}\n{}",
        audit.lost,
        audit.table
    );
    assert!(
        audit.problems.is_empty(),
        "off their walk:\n{}\n{}",
        audit.problems.join("\n"),
        audit.table
    );
}

/// Every stage's group committed every record of its topic: nothing is left for a consumer
/// joining later, and each stage's offsets are in Spring's group for it.
pub(crate) fn assert_caught_up(behind: &[String]) {
    assert!(
        behind.is_empty(),
        "stage groups that did not commit every record of their topic: {behind:?}"
    );
}
