//! MONITOR, SLOWLOG and LATENCY: watching the server run.
//!
//! What they report is collected by the executor for every command (see
//! `Executor::account`); the logs themselves live in the server state
//! (`state::slowlog`, `state::latency`, `state::monitor`).

use bytes::Bytes;
use store_api::Store;

use super::{help_reply, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::state::latency::Series;

/// Monitoring commands.
#[derive(Debug)]
pub enum Cmd {
    /// `MONITOR`
    Monitor,
    /// `SLOWLOG GET [count]` (`None`: every entry).
    SlowlogGet(Option<usize>),
    /// `SLOWLOG LEN`
    SlowlogLen,
    /// `SLOWLOG RESET`
    SlowlogReset,
    /// `SLOWLOG HELP`
    SlowlogHelp,
    /// `LATENCY LATEST`
    Latest,
    /// `LATENCY HISTORY event`
    History(Bytes),
    /// `LATENCY RESET [event ...]`
    Reset(Vec<Bytes>),
    /// `LATENCY DOCTOR`
    Doctor,
    /// `LATENCY GRAPH event`
    Graph(Bytes),
    /// `LATENCY HISTOGRAM [command ...]`
    Histogram(Vec<Bytes>),
    /// `LATENCY HELP`
    LatencyHelp,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Monitoring(c))
}

fn parse_slowlog_get(mut a: Args<'_>) -> Result<Command, CmdError> {
    let count = match a.next() {
        None => Some(10),
        Some(n) => match parse_int(&n) {
            Ok(-1) => None,
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return Err(CmdError::CountBelowMinusOne),
        },
    };
    cmd(Cmd::SlowlogGet(count))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("monitor", |_| cmd(Cmd::Monitor)),
    ("slowlog|get", parse_slowlog_get),
    ("slowlog|len", |_| cmd(Cmd::SlowlogLen)),
    ("slowlog|reset", |_| cmd(Cmd::SlowlogReset)),
    ("slowlog|help", |_| cmd(Cmd::SlowlogHelp)),
    ("latency|latest", |_| cmd(Cmd::Latest)),
    ("latency|history", |mut a| cmd(Cmd::History(a.bytes()?))),
    ("latency|reset", |a| cmd(Cmd::Reset(a.rest()))),
    ("latency|doctor", |_| cmd(Cmd::Doctor)),
    ("latency|graph", |mut a| cmd(Cmd::Graph(a.bytes()?))),
    ("latency|histogram", |a| cmd(Cmd::Histogram(a.rest()))),
    ("latency|help", |_| cmd(Cmd::LatencyHelp)),
];

/// Execute a monitoring command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let state = ctx.state;
    Ok(match cmd {
        Cmd::Monitor => {
            if ctx.in_transaction() {
                return Err(CmdError::MonitorDenyBlocking);
            }
            if ctx.session.monitor {
                // Redis answers a second MONITOR with nothing at all.
                return Ok(Frame::Seq(vec![]));
            }
            ctx.session.monitor = true;
            state.monitors.add(&ctx.session.handle);
            Frame::ok()
        }
        Cmd::SlowlogGet(count) => Frame::Array(
            state
                .slowlog
                .get(count)
                .into_iter()
                .map(|e| {
                    Frame::Array(vec![
                        Frame::Integer(e.id as i64),
                        Frame::Integer(e.time as i64),
                        Frame::Integer(e.usec as i64),
                        Frame::Array(e.argv.into_iter().map(Frame::Bulk).collect()),
                        Frame::Bulk(Bytes::from(e.addr)),
                        Frame::Bulk(e.name),
                    ])
                })
                .collect(),
        ),
        Cmd::SlowlogLen => Frame::Integer(state.slowlog.len() as i64),
        Cmd::SlowlogReset => {
            state.slowlog.reset();
            Frame::ok()
        }
        Cmd::SlowlogHelp => help_reply(SLOWLOG_HELP),
        Cmd::Latest => Frame::Array(
            state
                .db
                .latency()
                .all()
                .into_iter()
                .filter_map(|(event, s)| {
                    let last = s.samples.last()?;
                    Some(Frame::Array(vec![
                        Frame::Bulk(Bytes::from_static(event.as_bytes())),
                        Frame::Integer(last.time as i64),
                        Frame::Integer(last.ms as i64),
                        Frame::Integer(s.max as i64),
                    ]))
                })
                .collect(),
        ),
        Cmd::History(event) => Frame::Array(
            state
                .db
                .latency()
                .series(&event)
                .map(|s| {
                    s.samples
                        .iter()
                        .map(|x| {
                            Frame::Array(vec![
                                Frame::Integer(x.time as i64),
                                Frame::Integer(x.ms as i64),
                            ])
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Cmd::Reset(events) => {
            let events: Vec<&[u8]> = events.iter().map(|e| &e[..]).collect();
            Frame::Integer(state.db.latency().reset(&events) as i64)
        }
        Cmd::Doctor => Frame::Verbatim("txt", Bytes::from(doctor(ctx))),
        Cmd::Graph(event) => match state.db.latency().series(&event) {
            Some(s) if !s.samples.is_empty() => {
                let name = String::from_utf8_lossy(&event).into_owned();
                Frame::Verbatim("txt", Bytes::from(graph(&name, &s)))
            }
            _ => return Err(CmdError::NoLatencySamples(event)),
        },
        Cmd::Histogram(names) => histograms(ctx, &names),
        Cmd::LatencyHelp => help_reply(LATENCY_HELP),
    })
}

/// LATENCY HISTOGRAM: per command, its calls and the cumulative count of
/// calls at power-of-two microsecond bounds.
fn histograms<S: Store>(ctx: &Ctx<'_, S>, names: &[Bytes]) -> Frame {
    let table = ctx.commands;
    let ids: Vec<(&'static str, usize)> = if names.is_empty() {
        table.ids().collect()
    } else {
        // A container (`client`) stands for its subcommands too, as in
        // Redis's `latencySpecificCommandsFillCDF`.
        names
            .iter()
            .flat_map(|n| {
                let lower = String::from_utf8_lossy(n).to_ascii_lowercase();
                let own = table.id_of(&lower).map(|id| (table.name_of(id), id));
                let prefix = format!("{lower}|");
                let subs: Vec<(&'static str, usize)> = if lower.contains('|') {
                    Vec::new()
                } else {
                    table
                        .ids()
                        .filter(|(name, _)| name.starts_with(&prefix))
                        .collect()
                };
                own.into_iter().chain(subs)
            })
            .collect()
    };
    Frame::Map(
        ids.into_iter()
            .filter_map(|(name, id)| {
                let (calls, buckets) = ctx.state.stats.histogram(id)?;
                let hist = Frame::Map(
                    buckets
                        .into_iter()
                        .map(|(b, n)| (Frame::Integer(b as i64), Frame::Integer(n as i64)))
                        .collect(),
                );
                Some((
                    Frame::Bulk(Bytes::from_static(name.as_bytes())),
                    Frame::Map(vec![
                        (
                            Frame::Bulk(Bytes::from_static(b"calls")),
                            Frame::Integer(calls as i64),
                        ),
                        (Frame::Bulk(Bytes::from_static(b"histogram_usec")), hist),
                    ]),
                ))
            })
            .collect(),
    )
}

/// LATENCY DOCTOR's report, in Redis's words.
fn doctor<S: Store>(ctx: &Ctx<'_, S>) -> String {
    let threshold = ctx.config.latency_monitor_threshold;
    if threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let events = ctx.state.db.latency().all();
    if events.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut s = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    let mut commands = false;
    for (i, (event, series)) in events.iter().enumerate() {
        let n = series.samples.len().max(1) as f64;
        let avg = series.samples.iter().map(|x| x.ms as f64).sum::<f64>() / n;
        let mad = series
            .samples
            .iter()
            .map(|x| (x.ms as f64 - avg).abs())
            .sum::<f64>()
            / n;
        let period = match (series.samples.first(), series.samples.last()) {
            (Some(a), Some(b)) if series.samples.len() > 1 => {
                (b.time - a.time) as f64 / (series.samples.len() - 1) as f64
            }
            _ => 1.0,
        };
        s.push_str(&format!(
            "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {period:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            series.samples.len(),
            avg as u64,
            mad as u64,
            series.max
        ));
        commands |= event.contains("command");
    }
    s.push_str("\nI have a few advices for you:\n\n");
    let slowlog = ctx.config.slowlog_log_slower_than;
    if slowlog < 0 || slowlog as u64 / 1000 > threshold {
        s.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold * 1000));
    }
    if commands {
        s.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        s.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    s
}

/// LATENCY GRAPH: the samples as columns of `#`, `|` and `_`, newest on
/// the right, with Redis's header and age labels under each column.
fn graph(event: &str, s: &Series) -> String {
    const ROWS: usize = 4;
    let (low, high) = s
        .samples
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x.ms), hi.max(x.ms)));
    let mut out = format!(
        "{event} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        s.max,
        "-".repeat(80)
    );
    let samples = &s.samples[s.samples.len().saturating_sub(80)..];
    let span = (high - low).max(1) as f64;
    let heights: Vec<usize> = samples
        .iter()
        .map(|x| {
            if high == low {
                ROWS
            } else {
                1 + (((x.ms - low) as f64 / span) * (ROWS - 1) as f64).round() as usize
            }
        })
        .collect();
    for row in (1..=ROWS).rev() {
        let line: String = heights
            .iter()
            .map(|&h| match h.cmp(&row) {
                std::cmp::Ordering::Greater => '|',
                std::cmp::Ordering::Equal => '#',
                std::cmp::Ordering::Less => ' ',
            })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let now = samples.last().map_or(0, |x| x.time);
    let labels: Vec<String> = samples
        .iter()
        .map(|x| {
            let age = now - x.time;
            match age {
                0..=59 => format!("{age}s"),
                60..=3599 => format!("{}m", age / 60),
                _ => format!("{}h", age / 3600),
            }
        })
        .collect();
    let depth = labels.iter().map(String::len).max().unwrap_or(0);
    for i in 0..depth {
        let line: String = labels
            .iter()
            .map(|l| l.as_bytes().get(i).map_or(' ', |&c| c as char))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::latency::{Sample, Series};

    /// Bars rise with the latency: the lowest sample is one row high,
    /// the highest four (Redis's `latencyCommandGenSparkeline` scale).
    #[test]
    fn latency_graph_bars_scale_from_low_to_high() {
        let s = Series {
            samples: [10, 40, 70, 100]
                .iter()
                .enumerate()
                .map(|(i, &ms)| Sample {
                    time: 1_000 + i as u64,
                    ms,
                })
                .collect(),
            max: 100,
        };
        let text = graph("command", &s);
        let rows: Vec<&str> = text.lines().skip(2).take(4).collect();
        assert_eq!(rows, ["   #", "  #|", " #||", "#|||"], "{text}");
        assert!(text.starts_with("command - high 100 ms, low 10 ms (all time high 100 ms)"));
    }
}
