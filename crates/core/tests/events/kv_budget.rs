//! KV within Cloudflare's limits, which `wrangler dev` does not enforce: one invocation may make
//! at most 1,000 KV operations. The consumer's write plan for a maximal batch and every paged
//! admin read (the largest listing, a count, a delete) stay within it, and resuming from the
//! cursor they give loses and repeats nothing.

use std::collections::BTreeMap;

use pilot_gate_core::events::delivery::{patience_s, MAX_RETRIES};
use pilot_gate_core::events::limits::MAX_EVENTS;
use pilot_gate_core::events::listing::{Pager, PagerMode, Resume, KV_OPS_PER_INVOCATION};
use pilot_gate_core::events::record::{plan_writes, RequestMeta, KV_METADATA_MAX_BYTES};

use crate::limits::largest_message;
use crate::support::NOW;

/// A setting of every queue consumer in wrangler.toml that writes to KV (the events', the
/// evidence's and the dead letters'), by name.
fn consumer_settings(name: &str) -> Vec<u64> {
    let consumers: Vec<u64> = consumer_sections()
        .into_iter()
        // The notifications' consumer writes nothing to KV (see its own test below).
        .filter(|section| !section.contains("queue = \"pilot-gate-notify\""))
        .map(|section| setting(&section, name))
        .collect();
    assert_eq!(
        consumers.len(),
        3,
        "the events', the evidence's and the dead letters' consumers"
    );
    consumers
}

/// The top level's `[[queues.consumers]]` tables of a wrangler config (`file`), each up to the
/// next table.
fn consumer_sections_of(file: &str) -> Vec<String> {
    crate::support::wrangler_config(file)
        .split("[[queues.consumers]]")
        .skip(1)
        .map(|s| {
            s.lines()
                .skip(1)
                .take_while(|l| !l.starts_with('['))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// The edge's consumers (wrangler.toml).
fn consumer_sections() -> Vec<String> {
    consumer_sections_of("wrangler.toml")
}

/// The integer setting `name` of one consumer's table.
fn setting(section: &str, name: &str) -> u64 {
    section
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = ")))
        .unwrap_or_else(|| panic!("{name} in [[queues.consumers]]"))
        .trim()
        .parse()
        .unwrap()
}

/// A setting that every consumer shares.
fn consumer_setting(name: &str) -> u64 {
    let all = consumer_settings(name);
    assert!(all.iter().all(|v| *v == all[0]), "{name}: {all:?}");
    all[0]
}

#[test]
fn a_maximal_batch_plans_one_write_per_message_within_the_budget() {
    let batch_size = consumer_setting("max_batch_size");
    assert!(
        batch_size <= 100,
        "Queues deliver at most 100 messages a batch"
    );
    let message = largest_message();
    let writes: usize = (0..batch_size)
        .map(|_| plan_writes(&message).unwrap().write.into_iter().count())
        .sum();
    let events: usize = plan_writes(&message).unwrap().events.len();
    println!(
        "kv budget: a batch of {batch_size} messages of {events} events plans {writes} KV writes \
         (budget {KV_OPS_PER_INVOCATION}; one key per event would be {})",
        batch_size as usize * events
    );
    assert_eq!(events, MAX_EVENTS);
    assert_eq!(writes, batch_size as usize);
    assert!(writes <= KV_OPS_PER_INVOCATION);
}

#[test]
fn metadata_always_fits_kv_and_falls_back_to_reading_the_value() {
    let message = largest_message();
    let meta = plan_writes(&message).unwrap().write.unwrap().meta;
    assert!(serde_json::to_string(&meta).unwrap().len() <= KV_METADATA_MAX_BYTES);
    // 100 events with distinct names of 64 bytes: the names cannot fit, so none are kept.
    let names: Vec<String> = (0..MAX_EVENTS).map(|i| format!("{i:064}")).collect();
    let events: Vec<String> = names
        .iter()
        .map(|n| format!(r#"{{"name":"{n}","ts":{NOW}}}"#))
        .collect();
    let stored = crate::limits::stored_message(&format!("[{}]", events.join(",")));
    let meta = plan_writes(&stored).unwrap().write.unwrap().meta;
    assert_eq!(meta.n, MAX_EVENTS);
    assert_eq!(meta.names, None);
    assert_eq!(
        meta.matching(Some("anything")),
        None,
        "only the value can tell"
    );
    assert_eq!(meta.matching(None), Some(MAX_EVENTS));
    assert!(serde_json::to_string(&meta).unwrap().len() <= KV_METADATA_MAX_BYTES);
    // The most names that are kept still fit.
    for k in 1..=MAX_EVENTS {
        let meta = RequestMeta {
            n: MAX_EVENTS,
            names: Some((0..k).map(|i| (format!("{i:064}"), 100)).collect()),
        };
        let fits = serde_json::to_string(&meta).unwrap().len() <= KV_METADATA_MAX_BYTES;
        let kept = plan_writes(&crate::limits::stored_message(&format!(
            "[{}]",
            events[..k].join(",")
        )))
        .unwrap()
        .write
        .unwrap()
        .meta
        .names
        .is_some();
        assert!(
            !kept || fits,
            "{k} names kept but {} bytes",
            meta.names.unwrap().len()
        );
    }
}

/// A stored request as a KV listing shows it.
struct Stored {
    key: usize,
    meta: Option<RequestMeta>,
    names: Vec<&'static str>,
}

/// The KV namespace of a test: keys in listing order.
struct FakeKv {
    values: Vec<Stored>,
}

/// What one invocation did: its operations, what it returned and where it stopped.
#[derive(Default)]
struct Run {
    ops: usize,
    keys: Vec<usize>,
    events: usize,
    counted: usize,
    resume: Option<Resume>,
}

impl FakeKv {
    fn page_size() -> usize {
        1000
    }

    /// One invocation of a paged read, driven as the edge drives the pager: list a page, plan
    /// it, act on the planned keys, stop where the plan or the limit says.
    fn run(&self, mode: PagerMode, name: Option<&str>, from: Resume) -> Run {
        let mut pager = Pager::new(mode, name.map(str::to_owned), KV_OPS_PER_INVOCATION);
        let mut run = Run::default();
        let mut at = from;
        loop {
            if !pager.list() {
                run.resume = Some(at);
                break;
            }
            run.ops += 1;
            let start: usize = at.page.as_deref().map_or(0, |c| c.parse().unwrap());
            let page = &self.values[start..(start + Self::page_size()).min(self.values.len())];
            let metas: Vec<Option<RequestMeta>> = page.iter().map(|s| s.meta.clone()).collect();
            let plan = pager.page(&metas, at.skip);
            run.counted += plan.counted;
            let mut stop = plan.stop_at;
            for &i in &plan.keys {
                run.ops += 1;
                let matching = page[i]
                    .names
                    .iter()
                    .filter(|n| name.is_none_or(|w| w == **n))
                    .count();
                match mode {
                    PagerMode::Count => run.counted += matching,
                    PagerMode::Read { limit } => {
                        if run.events > 0 && run.events + matching > limit {
                            stop = Some(i);
                            break;
                        }
                        run.events += matching;
                        run.keys.push(page[i].key);
                    }
                    PagerMode::Delete => run.keys.push(page[i].key),
                }
            }
            if let Some(i) = stop {
                at.skip = i;
                run.resume = Some(at);
                break;
            }
            let next = start + Self::page_size();
            if next >= self.values.len() {
                break;
            }
            at = Resume {
                page: Some(next.to_string()),
                skip: 0,
            };
        }
        assert!(
            run.ops <= KV_OPS_PER_INVOCATION,
            "{} KV operations in one invocation",
            run.ops
        );
        run
    }

    /// Every invocation of a paged read until it completes (bounded).
    fn run_all(&self, mode: PagerMode, name: Option<&str>) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        let mut from = Resume::default();
        for _ in 0..10_000 {
            // The client sends the cursor back as text.
            let run = self.run(mode, name, Resume::parse(&from.encode()).unwrap());
            let next = run.resume.clone();
            runs.push(run);
            match next {
                Some(r) => from = r,
                None => return runs,
            }
        }
        panic!("the read never completed");
    }
}

fn kv_of(n: usize, names_of: impl Fn(usize) -> Vec<&'static str>) -> FakeKv {
    FakeKv {
        values: (0..n)
            .map(|key| {
                let names = names_of(key);
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for n in &names {
                    *counts.entry((*n).to_owned()).or_default() += 1;
                }
                Stored {
                    key,
                    meta: Some(RequestMeta {
                        n: names.len(),
                        names: Some(counts),
                    }),
                    names,
                }
            })
            .collect(),
    }
}

#[test]
fn the_largest_listing_pages_within_the_budget_and_resumes_exactly() {
    // One event per stored request: `?limit=1000` would be 1 list + 1,000 reads.
    let kv = kv_of(2_500, |_| vec!["page_view"]);
    let runs = kv.run_all(PagerMode::Read { limit: 1000 }, None);
    let first = &runs[0];
    println!(
        "kv budget: ?limit=1000 over one-event requests: {} operations, {} events, then a cursor",
        first.ops, first.events
    );
    assert!(
        first.events >= 990,
        "{} events in the first answer",
        first.events
    );
    assert!(first.resume.is_some(), "the rest is behind a cursor");
    let all: Vec<usize> = runs.iter().flat_map(|r| r.keys.clone()).collect();
    assert_eq!(
        all,
        (0..2_500).collect::<Vec<_>>(),
        "every request once, newest first"
    );
}

#[test]
fn a_listing_by_name_reads_only_values_that_hold_it_and_never_splits_a_request() {
    // Every 7th request holds 3 `error` events; the rest hold none.
    let kv = kv_of(30_000, |k| {
        if k % 7 == 0 {
            vec!["error", "error", "error", "page_view"]
        } else {
            vec!["page_view"]
        }
    });
    let runs = kv.run_all(PagerMode::Read { limit: 100 }, Some("error"));
    for r in &runs[..runs.len() - 1] {
        assert!(r.events <= 100 && r.events >= 98, "{} events", r.events);
        assert_eq!(r.events % 3, 0, "requests are never split");
    }
    let all: Vec<usize> = runs.iter().flat_map(|r| r.keys.clone()).collect();
    assert_eq!(all, (0..30_000).step_by(7).collect::<Vec<_>>());
    // Unknown names: the value is read, and the answer still never passes the limit by more
    // than one request.
    let mut blind = kv_of(3_000, |_| vec!["error", "error"]);
    blind.values.iter_mut().for_each(|s| s.meta = None);
    let runs = blind.run_all(PagerMode::Read { limit: 101 }, Some("error"));
    assert!(runs.iter().all(|r| r.events <= 102));
    assert_eq!(runs.iter().map(|r| r.keys.len()).sum::<usize>(), 3_000);
}

#[test]
fn counting_and_deleting_page_within_the_budget() {
    // 1.5 million stored requests: a count is list pages only, resumed by cursor.
    let kv = kv_of(1_500_000, |k| {
        if k % 2 == 0 {
            vec!["a", "b"]
        } else {
            vec!["a"]
        }
    });
    let runs = kv.run_all(PagerMode::Count, None);
    assert_eq!(runs.iter().map(|r| r.counted).sum::<usize>(), 2_250_000);
    assert_eq!(runs.len(), 2, "1,000 list pages per invocation");
    let by_name = kv.run_all(PagerMode::Count, Some("b"));
    assert_eq!(by_name.iter().map(|r| r.counted).sum::<usize>(), 750_000);
    // A delete of 2,500 requests takes three calls, each within the budget.
    let kv = kv_of(2_500, |_| vec!["a"]);
    let first = kv.run(PagerMode::Delete, None, Resume::default());
    println!(
        "kv budget: DELETE removes {} stored requests per call in {} operations",
        first.keys.len(),
        first.ops
    );
    assert!(first.keys.len() >= 990);
    assert!(first.resume.is_some());
}

#[test]
fn a_cursor_that_the_listing_did_not_give_is_a_400() {
    for bad in ["", "x", "-1.abc", "1"] {
        assert!(Resume::parse(bad).is_err(), "{bad:?}");
    }
    let r = Resume {
        page: Some("AAEC+/=".into()),
        skip: 7,
    };
    assert_eq!(Resume::parse(&r.encode()), Ok(r));
}

#[test]
fn failures_are_retried_long_enough_to_outlast_an_outage() {
    assert_eq!(
        consumer_setting("max_retries"),
        u64::from(MAX_RETRIES),
        "wrangler.toml's max_retries is the one the delays are planned for"
    );
    let patience = patience_s();
    println!(
        "delivery: a failing message is retried for {patience} s before the dead-letter queue"
    );
    assert!(patience >= 20 * 60, "{patience} s");
}

/// The notifications' consumer POSTs each message of a batch once: its batch stays far below
/// the 50 subrequests a Free-plan invocation may make, and one batch runs at a time (order).
#[test]
fn the_notifications_consumer_posts_within_the_subrequest_limit_one_batch_at_a_time() {
    let section = consumer_sections_of("wrangler.control.toml")
        .into_iter()
        .find(|s| s.contains("queue = \"pilot-gate-notify\""))
        .expect("the notifications' consumer");
    assert!(setting(&section, "max_batch_size") <= 10);
    assert_eq!(setting(&section, "max_concurrency"), 1);
    assert!(setting(&section, "max_retries") >= 5);
}
