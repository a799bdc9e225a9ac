//! `rebound groups …`: a chain's consumer groups. `handover` moves its committed offsets between
//! Spring Kafka's stage groups and Rebound's one group (`rebound_ops::handover`).

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use rebound::naming::{TopicChain, TopicRole};
use rebound::KafkaConfig;
use rebound_ops::handover::{
    handover, GroupLayout, Handover, HandoverRequest, Left, Move, Outcome, StagePlan,
};
use rebound_ops::visible::{self, line};

use crate::policy_args::PolicyArgs;

#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// Move a chain's committed offsets between Spring Kafka's groups and Rebound's, both ways.
    ///
    /// Spring reads each stage of a chain in its own group: G on the main topic, G-retry-1000
    /// (G + the topic's suffix) on each retry topic, G.dlt on the DLT. Rebound reads the main
    /// topic and every retry topic in G. Replacing one by the other without this, the new side
    /// starts each retry topic afresh and handles again what the old side had moved past.
    ///
    /// --to single copies G-retry-N's offsets on each retry topic to G (Spring → Rebound);
    /// --to spring-stages copies G's to each stage group (Rebound → Spring). The main topic is
    /// read in G either way. The DLT moves only with --include-dlt (when Rebound's consumer has
    /// a dlt_handler, its group G reads the DLT too). A partition without a committed offset in
    /// its source group is left as it is.
    ///
    /// Stop both sides first: it refuses while a group it reads or writes has live members.
    /// Give the retry flags of the policy both sides use (as `rebound chain` takes them).
    ///
    /// Example: rebound groups handover email.send --group email-send-group --to single
    ///   --attempts 5 --delay-ms 1000 --multiplier 2 --dlt-suffix .dlt --dry-run
    #[command(verbatim_doc_comment)]
    Handover(HandoverArgs),
}

/// The layout the offsets go to.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum To {
    /// Rebound's: one group for the main topic and every retry topic.
    Single,
    /// Spring's: a group per stage (G, G-retry-1000, …, G.dlt).
    SpringStages,
}

#[derive(Args, Debug)]
pub struct HandoverArgs {
    /// The main topic.
    topic: String,
    /// The listener's group id: Spring's groupId, Rebound's group.
    #[arg(long)]
    group: String,
    /// Where the offsets go; they come from the other layout.
    #[arg(long, value_enum)]
    to: To,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Move the DLT's offsets too (between G + the DLT suffix and G): for a Rebound consumer
    /// with a dlt_handler, whose group reads the DLT.
    #[arg(long)]
    include_dlt: bool,
    /// Read and check everything, show the offsets it would write; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The whole hand-over as one JSON object (stages, groups, one entry per partition).
    #[arg(long)]
    json: bool,
}

pub async fn run(kafka: &KafkaConfig, command: GroupsCommand) -> anyhow::Result<()> {
    let GroupsCommand::Handover(args) = command;
    let to = match args.to {
        To::Single => GroupLayout::Single,
        To::SpringStages => GroupLayout::SpringStages,
    };
    let request = HandoverRequest {
        chain: TopicChain::new(&args.topic, &args.policy.policy()),
        group: args.group.clone(),
        to,
        include_dlt: args.include_dlt,
        dry_run: args.dry_run,
    };
    let done = handover(kafka, &request).await?;
    let out = &mut std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", visible::json(&done)?)?;
    } else {
        print_table(out, &request, &done)?;
    }
    summarize(&done);
    Ok(())
}

fn role(role: TopicRole) -> String {
    format!("{role:?}").to_lowercase()
}

/// A row of the table: its cells, and what happened in words (the last column).
type Row = ([String; 7], String);

/// One row per stage that moves nothing, per partition of those that do (one row for a stage
/// whose source group has no committed offset at all).
fn rows(done: &Handover) -> Vec<Row> {
    let header = [
        "STAGE",
        "TOPIC",
        "PARTITION",
        "FROM",
        "TO",
        "OFFSET",
        "BEFORE",
    ];
    let mut rows = vec![(header.map(String::from), String::new())];
    let row = |stage: &StagePlan, partition: String, offset: Option<i64>, before: Option<i64>| {
        let or_dash = |n: Option<i64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        [
            role(stage.role),
            line(&stage.topic).into_owned(),
            partition,
            line(&stage.from).into_owned(),
            line(&stage.to).into_owned(),
            or_dash(offset),
            or_dash(before),
        ]
    };
    for stage in &done.stages {
        let moves: Vec<&Move> = done
            .moves
            .iter()
            .filter(|m| m.topic == stage.topic)
            .collect();
        let none = format!("no committed offset in {}: left as is", line(&stage.from));
        let whole = |note: &str| (row(stage, "all".into(), None, None), note.to_string());
        match stage.left {
            Some(Left::SameGroup) => rows.push(whole("the same group either way: nothing to move")),
            Some(Left::DltNotRead) => rows.push(whole(
                "not moved: Rebound's group reads the DLT only with a dlt_handler (--include-dlt)",
            )),
            None if moves.iter().all(|m| m.offset.is_none()) => rows.push(whole(&none)),
            None => rows.extend(moves.iter().map(|m| {
                let note = match m.outcome {
                    Outcome::WouldWrite => "would be written".to_string(),
                    Outcome::Written => "written".to_string(),
                    Outcome::NoSourceOffset => none.clone(),
                };
                let cells = row(stage, m.partition.to_string(), m.offset, m.target_before);
                (cells, note)
            })),
        }
    }
    rows
}

fn print_table(
    out: &mut impl Write,
    request: &HandoverRequest,
    done: &Handover,
) -> std::io::Result<()> {
    let (main, group) = (line(&request.chain.main), line(&request.group));
    match request.to {
        GroupLayout::Single => {
            writeln!(out, "{main}: Spring's stage groups → one group ({group})")?
        }
        GroupLayout::SpringStages => {
            writeln!(out, "{main}: one group ({group}) → Spring's stage groups")?
        }
    }
    let rows = rows(done);
    let mut widths = [0; 7];
    for (cells, _) in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (cells, note) in &rows {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            text.push_str(&format!("{cell:<width$}  "));
        }
        writeln!(out, "{}", format!("{text}{note}").trim_end())?;
    }
    Ok(())
}

/// The counts, on stderr (as `dlt discard`'s), and the chain's topics the flags did not derive.
fn summarize(done: &Handover) {
    let writes = done.writes().count();
    let left = done.moves.len() - writes;
    let targets = done
        .targets()
        .iter()
        .map(|g| line(g).into_owned())
        .collect::<Vec<_>>();
    let verb = if done.dry_run { "would write" } else { "wrote" };
    let checked = if done.dry_run {
        "dry run: nothing written"
    } else {
        "read back"
    };
    if writes == 0 {
        eprintln!("nothing to hand over: no source group has a committed offset on these stages");
    } else {
        eprintln!(
            "{verb} {writes} offsets to {} ({checked})",
            targets.join(", ")
        );
    }
    if left > 0 {
        eprintln!("{left} partitions have no committed offset in their source group: left as is");
    }
    for stray in &done.strays {
        eprintln!(
            "note: {} is on the cluster but not in this chain: left alone (check the retry flags)",
            line(stray)
        );
    }
}
