//! `bm-admin`: the operators' console (`bigmarket.admin.v1.AdminService`) from a shell, with
//! readable tables. docs/operations.md, "bm-admin".
//!
//! ```text
//! bm-admin [--endpoint URL] [--token TOKEN] <command>
//! ```
//! The token (or `BM_TOKEN`) is an operator's bearer token when caller authentication is on
//! (docs/security.md). Exit status: 0 done, 1 refused or failed (the message and the
//! big-market code are printed), 2 bad usage.

use std::{fmt::Write as _, process::ExitCode, time::Duration};

use bm_api::admin::{self as pb, admin_service_client::AdminServiceClient};
use clap::{Args, Parser, Subcommand};
use tonic::{Request, Status, metadata::MetadataValue, transport::Channel};

#[derive(Debug, Parser)]
#[command(
    name = "bm-admin",
    version,
    about = "Operate big-market through AdminService (switches, parked messages, re-armory)"
)]
struct Cli {
    /// The orchestrator's gRPC endpoint.
    #[arg(long, env = "BM_ADMIN_ENDPOINT", default_value = "http://127.0.0.1:50050")]
    endpoint: String,
    /// Bearer token of an operator caller (when caller authentication is on).
    #[arg(long, env = "BM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the run-time switches: value, who set them, when and why.
    Switches,
    /// Set a switch for every orchestrator replica.
    Set {
        /// degrade, rate_limit_per_second, rate_limit_burst, rate_limit_block_after, rate_limit_block_seconds.
        name: String,
        /// The new value (`true`, `0.5`, `10`).
        value: String,
        /// Why (kept with the change).
        #[arg(long)]
        reason: String,
    },
    /// The recorded switch changes, newest first.
    History {
        /// Only this switch.
        #[arg(long)]
        name: Option<String>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// List parked (dead-lettered) event messages.
    Parked {
        /// strategy, activity or award (default: all three).
        #[arg(long)]
        service: Option<String>,
        /// At most this many per service (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print each payload too.
        #[arg(long)]
        payload: bool,
    },
    /// Hand parked messages back to their consumer, once each.
    Retry(Target),
    /// Drop parked messages for good.
    Discard(Target),
    /// What each outbox still has to publish.
    Backlog,
    /// Re-read an activity and its strategy from the databases after a data change.
    Armory {
        /// The activity.
        activity_id: i64,
    },
    /// A user's raffle orders and award records on an activity.
    Orders {
        /// The user.
        user_id: String,
        /// The activity.
        activity_id: i64,
    },
    /// Show an activity on a channel and source (the activity stage).
    Stage {
        /// The channel (1-8 characters of A-Z a-z 0-9 _ -).
        channel: String,
        /// The source (1-8 characters of A-Z a-z 0-9 _ -).
        source: String,
        /// The activity to show.
        activity_id: i64,
    },
    /// List the activity stages, newest first.
    Stages {
        /// Only `create`, `active` or `expire`.
        #[arg(long)]
        state: Option<String>,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct Which {
    /// One message (needs --service).
    #[arg(long, requires = "service")]
    id: Option<i64>,
    /// Every parked message (of --service, or of every service).
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
struct Target {
    /// strategy, activity or award.
    #[arg(long)]
    service: Option<String>,
    #[command(flatten)]
    which: Which,
}

/// Unicode ranges of East Asian wide characters (the demo's award titles, e.g. 随机积分).
const WIDE: [(u32, u32); 9] = [
    (0x1100, 0x115F),
    (0x2E80, 0xA4CF),
    (0xAC00, 0xD7A3),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFF60),
    (0xFFE0, 0xFFE6),
    (0x1_F300, 0x1_F64F),
    (0x2_0000, 0x3_FFFD),
];

/// Terminal columns `text` takes: wide characters take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| if WIDE.iter().any(|(low, high)| (*low..=*high).contains(&u32::from(c))) { 2 } else { 1 })
        .sum()
}

/// Lays out rows under a header, columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(display_width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            let _ = write!(text, "{cell}{:pad$}  ", "", pad = width - display_width(cell));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn time(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn dash(text: &str) -> String {
    if text.is_empty() { "-".to_owned() } else { text.to_owned() }
}

struct Console {
    client: AdminServiceClient<Channel>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Console {
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(Duration::from_secs(30));
        if let Some(token) = &self.token {
            request.metadata_mut().insert("authorization", token.clone());
        }
        request
    }

    async fn run(self, command: Command) -> Result<String, Status> {
        let mut client = self.client.clone();
        Ok(match command {
            Command::Switches => {
                let switches =
                    client.get_switches(self.request(pb::GetSwitchesRequest {})).await?.into_inner().switches;
                switches_table(&switches)
            }
            Command::Set { name, value, reason } => {
                let set = client.set_switch(self.request(pb::SetSwitchRequest { name, value, reason })).await?;
                switches_table(&set.into_inner().current.into_iter().collect::<Vec<_>>())
            }
            Command::History { name, limit } => {
                let request = pb::ListSwitchChangesRequest { name: name.unwrap_or_default(), limit };
                let changes = client.list_switch_changes(self.request(request)).await?.into_inner().changes;
                let rows: Vec<Vec<String>> = changes
                    .iter()
                    .map(|c| {
                        vec![
                            time(c.updated_at.as_ref()),
                            c.name.clone(),
                            c.value.clone(),
                            c.updated_by.clone(),
                            c.reason.clone(),
                        ]
                    })
                    .collect();
                table(&["WHEN", "SWITCH", "VALUE", "BY", "REASON"], &rows)
            }
            Command::Parked { service, limit, payload } => {
                let request = pb::ListParkedMessagesRequest { service: service.unwrap_or_default(), limit };
                parked_table(&client.list_parked_messages(self.request(request)).await?.into_inner(), payload)
            }
            Command::Retry(target) => {
                let request = pb::RetryParkedMessagesRequest {
                    service: target.service.unwrap_or_default(),
                    id: target.which.id.unwrap_or_default(),
                    all: target.which.all,
                };
                let retried = client.retry_parked_messages(self.request(request)).await?.into_inner().retried;
                format!("{retried} message(s) handed back to their consumer\n")
            }
            Command::Discard(target) => {
                let request = pb::DiscardParkedMessagesRequest {
                    service: target.service.unwrap_or_default(),
                    id: target.which.id.unwrap_or_default(),
                    all: target.which.all,
                };
                let discarded = client.discard_parked_messages(self.request(request)).await?.into_inner().discarded;
                format!("{discarded} message(s) discarded\n")
            }
            Command::Backlog => {
                let backlogs = client
                    .get_outbox_backlog(self.request(pb::GetOutboxBacklogRequest {}))
                    .await?
                    .into_inner()
                    .backlogs;
                let rows: Vec<Vec<String>> = backlogs
                    .iter()
                    .map(|b| vec![b.service.clone(), b.pending.to_string(), format!("{:.1}", b.oldest_pending_seconds)])
                    .collect();
                table(&["SERVICE", "PENDING", "OLDEST (S)"], &rows)
            }
            Command::Orders { user_id, activity_id } => {
                let request = pb::ListUserOrdersRequest { user_id, activity_id, limit: 0 };
                orders_table(&client.list_user_orders(self.request(request)).await?.into_inner())
            }
            Command::Stage { channel, source, activity_id } => {
                let request = pb::PutActivityOnStageRequest { channel, source, activity_id };
                let put = client.put_activity_on_stage(self.request(request)).await?.into_inner();
                let mut out = stages_table(&put.stage.into_iter().collect::<Vec<_>>());
                if put.replaced_activity_id != 0 {
                    let _ = writeln!(out, "replaced activity {}", put.replaced_activity_id);
                }
                out
            }
            Command::Stages { state } => {
                let request = pb::ListActivityStagesRequest { state: state.unwrap_or_default(), limit: 0 };
                stages_table(&client.list_activity_stages(self.request(request)).await?.into_inner().stages)
            }
            Command::Armory { activity_id } => {
                let request = pb::ArmoryActivityRequest { activity_id };
                let armoried = client.armory_activity(self.request(request)).await?.into_inner();
                format!("activity {} and strategy {} re-armoried\n", armoried.activity_id, armoried.strategy_id)
            }
        })
    }
}

fn parked_table(listed: &pb::ListParkedMessagesResponse, payload: bool) -> String {
    let rows: Vec<Vec<String>> = listed
        .messages
        .iter()
        .map(|m| {
            vec![
                m.service.clone(),
                m.id.to_string(),
                time(m.parked_at.as_ref()),
                m.deliveries.to_string(),
                m.subject.clone(),
                m.error.chars().take(100).collect(),
            ]
        })
        .collect();
    let mut out = table(&["SERVICE", "ID", "PARKED AT", "TRIES", "SUBJECT", "ERROR"], &rows);
    if payload {
        for m in &listed.messages {
            let _ = writeln!(out, "\n{} #{}: {}", m.service, m.id, m.payload);
        }
    }
    let _ = writeln!(out, "{} listed, {} parked in all", listed.messages.len(), listed.total);
    out
}

fn orders_table(listed: &pb::ListUserOrdersResponse) -> String {
    let orders: Vec<Vec<String>> = listed
        .orders
        .iter()
        .map(|o| vec![o.order_id.clone(), time(o.order_time.as_ref()), o.order_state.clone()])
        .collect();
    let records: Vec<Vec<String>> = listed
        .records
        .iter()
        .map(|r| {
            vec![
                r.order_id.clone(),
                time(r.award_time.as_ref()),
                format!("{} {}", r.award_id, r.award_title),
                r.award_state.clone(),
                dash(&r.parked_reason),
            ]
        })
        .collect();
    format!(
        "{}\n{}",
        table(&["ORDER", "TIME", "STATE"], &orders),
        table(&["ORDER", "AWARDED AT", "AWARD", "STATE", "PARKED BECAUSE"], &records)
    )
}

fn stages_table(stages: &[pb::ActivityStage]) -> String {
    let rows: Vec<Vec<String>> = stages
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.channel.clone(),
                s.source.clone(),
                s.activity_id.to_string(),
                s.state.clone(),
                time(s.updated_at.as_ref()),
            ]
        })
        .collect();
    table(&["ID", "CHANNEL", "SOURCE", "ACTIVITY", "STATE", "UPDATED"], &rows)
}

fn switches_table(switches: &[pb::Switch]) -> String {
    let rows: Vec<Vec<String>> = switches
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.value.clone(),
                if s.updated_by.is_empty() { "(default)".to_owned() } else { s.updated_by.clone() },
                time(s.updated_at.as_ref()),
                dash(&s.reason),
            ]
        })
        .collect();
    table(&["SWITCH", "VALUE", "SET BY", "WHEN", "REASON"], &rows)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = match cli.token.as_deref().map(|t| format!("Bearer {t}").parse()) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            eprintln!("bm-admin: the token is not valid ASCII");
            return ExitCode::from(2);
        }
    };
    let channel = match tonic::transport::Endpoint::from_shared(cli.endpoint.clone()) {
        Ok(endpoint) => endpoint.connect_timeout(Duration::from_secs(3)).connect_lazy(),
        Err(error) => {
            eprintln!("bm-admin: --endpoint {:?}: {error}", cli.endpoint);
            return ExitCode::from(2);
        }
    };
    let console = Console { client: AdminServiceClient::new(channel), token };
    match console.run(cli.command).await {
        Ok(output) => {
            #[expect(clippy::print_stdout, reason = "a command-line tool's output")]
            {
                print!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(status) => {
            let code = bm_status::code_of(&status).map_or("-", bm_status::ErrorCode::as_str);
            eprintln!("bm-admin: {} (gRPC {:?}, bm-code {code})", status.message(), status.code());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let out = table(&["A", "LONG HEADER"], &[vec!["wide cell".into(), "x".into()], vec!["b".into(), "y".into()]]);
        assert_eq!(out, "A          LONG HEADER\nwide cell  x\nb          y\n");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let out = table(
            &["AWARD", "STATE"],
            &[vec!["101 随机积分".into(), "completed".into()], vec!["x".into(), "y".into()]],
        );
        assert_eq!(out, "AWARD         STATE\n101 随机积分  completed\nx             y\n");
    }

    #[test]
    fn usage_requires_exactly_one_target() {
        assert!(Cli::try_parse_from(["bm-admin", "retry", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["bm-admin", "retry", "--service", "award", "--id", "3"]).is_ok());
        assert!(Cli::try_parse_from(["bm-admin", "retry"]).is_err(), "no target");
        assert!(Cli::try_parse_from(["bm-admin", "retry", "--id", "3"]).is_err(), "an id needs its service");
        assert!(Cli::try_parse_from(["bm-admin", "discard", "--all", "--service", "award", "--id", "1"]).is_err());
        assert!(Cli::try_parse_from(["bm-admin", "set", "degrade", "true"]).is_err(), "a reason is required");
    }
}
