//! The `FlagEvidence` Durable Object: one per flag (named by its key), SQLite-backed. It keeps
//! the flag's evidence counted per unit (`pilot_gate_core::evidence`), evaluates the guards on every delta
//! and on a one-minute alarm, and calls the control plane only to act (rollback, pause,
//! fallback) or when the guards' states change. So traffic never queues in front of a kill, an
//! advance or an admin read, and the control plane's single writer works in proportion to
//! decisions, not to events.
//!
//! Internal routes (the flag's key last): `POST delta/{flag}` (the consumer's), `POST
//! watch/{flag}` (the control plane tells of a change; answers the verdicts), `POST
//! stats/{flag}` (the stats API, relayed by the control plane with its watch), `GET
//! figures/{flag}` (for `/metrics`), `POST fault/{flag}` (an injected outage, for tests).

mod store;

use store::Rows;

use std::cell::Cell;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use pilot_gate_core::control::guards::{GuardKind, GuardState, Verdict};
use pilot_gate_core::control::report::{bucket_minutes, series_of, Report, Window};
use pilot_gate_core::control::tally::arms_of;
use pilot_gate_core::control::watch::{Acted, GuardReport, Watch};
use pilot_gate_core::evidence::record::FlagDelta;
use pilot_gate_core::evidence::tally::EvidenceFigures;
use pilot_gate_core::evidence::tally::{capped_of, facts_of, update_series, Series, UnitState};
use pilot_gate_core::evidence::unit::{Net, Unit};
use pilot_gate_shell::internal::{self, INTERNAL};
use pilot_gate_shell::log;

/// How often the guards are checked without new evidence (and storage pruned), in ms.
pub const CHECK_MS: u64 = 60_000;

/// A flag's evidence object.
#[durable_object]
pub struct FlagEvidence {
    state: State,
    env: Env,
    /// Until when an injected outage lasts, ms (0: none; read from storage once per instance,
    /// so the request path reads no row for a fault that tests alone inject).
    down_until_ms: Cell<u64>,
    /// When the operators' stream was last told that this flag's stats changed, ms.
    stats_told_ms: Cell<u64>,
}

/// The least time between two "stats changed" notices of one flag, ms.
const STATS_NOTICE_MS: u64 = 2_000;

/// The guards' states last reported to the control plane, in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Sent {
    epoch: u64,
    states: Vec<(GuardKind, GuardState)>,
}

impl Sent {
    /// The states of `verdicts` on the window of `watch`.
    fn of(watch: &Watch, verdicts: &[Verdict]) -> Self {
        Sent {
            epoch: watch.tier_revision,
            states: verdicts
                .iter()
                .map(|v| (v.guard.clone(), v.state))
                .collect(),
        }
    }
}

/// A stats request as the control plane relays it.
#[derive(Debug, Deserialize)]
struct StatsAsk {
    window: Option<String>,
    watch: Watch,
}

fn json_response<T: Serialize>(v: &T) -> Result<Response> {
    Response::from_json(v)
}

impl DurableObject for FlagEvidence {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(store::SCHEMA, None) {
            log::error("evidence", "evidence_schema_failed", &e.to_string());
        }
        let this = Self {
            state,
            env,
            down_until_ms: Cell::new(0),
            stats_told_ms: Cell::new(0),
        };
        match this.meta::<u64>("down_until_ms") {
            Ok(t) => this.down_until_ms.set(t.unwrap_or(0)),
            Err(e) => log::error("evidence", "evidence_meta_failed", &e.to_string()),
        }
        this
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let method = req.method();
        let text = req.text().await?;
        let now_ms = worker::Date::now().as_millis();
        let Some((route, flag)) = path.strip_prefix(INTERNAL).and_then(|p| p.split_once('/'))
        else {
            return Response::error("no such route", 404);
        };
        if route == "fault" {
            return self.fault(&text, now_ms);
        }
        if now_ms < self.down_until_ms.get() {
            return Response::error("down: a fault was injected", 503);
        }
        let answer = match (method, route) {
            (Method::Post, "delta") => self.delta(flag, &text, now_ms).await,
            (Method::Post, "watch") => self.watch_changed(&text, now_ms).await,
            (Method::Post, "stats") => self.stats(&text, now_ms),
            (Method::Get, "figures") => self.figures(),
            _ => Response::error("no such route", 404),
        };
        answer.inspect_err(|e| log::error(flag, "evidence_failed", &e.to_string()))
    }

    async fn alarm(&self) -> Result<Response> {
        let now_ms = worker::Date::now().as_millis();
        let watch = self.watch()?;
        if let Some(w) = watch.as_ref() {
            self.check(w, now_ms).await?;
        }
        let watch = self.watch()?;
        let epoch = watch.as_ref().map_or(0, |w| w.tier_revision);
        let previous: Option<u64> = self.meta("previous_epoch")?;
        let more = self.prune(epoch, previous, now_ms)?;
        let guarded = watch.as_ref().is_some_and(Watch::guarded);
        if guarded || more {
            self.state
                .storage()
                .set_alarm((now_ms + CHECK_MS) as i64)
                .await?;
        }
        Response::ok("")
    }
}

impl FlagEvidence {
    /// `POST fault/{flag}` `{"seconds"}`: answers 503 to everything else for that long (an
    /// injected outage, `pilot_gate_core::control::fault`; 0 ends one).
    fn fault(&self, text: &str, now_ms: u64) -> Result<Response> {
        #[derive(Deserialize)]
        struct Down {
            seconds: u64,
        }
        let Ok(down) = serde_json::from_str::<Down>(text) else {
            return Response::error("fault: expected {\"seconds\"}", 400);
        };
        let until_ms = now_ms + down.seconds * 1000;
        self.set_meta("down_until_ms", &until_ms)?;
        self.down_until_ms.set(until_ms);
        json_response(&json!({"downUntilMs": until_ms}))
    }

    /// The flag's watch as last told.
    fn watch(&self) -> Result<Option<Watch>> {
        self.meta("watch")
    }

    /// Keeps `watch` when it is newer than the one known; a new window marks the old one for
    /// pruning.
    fn keep_watch(&self, watch: &Watch) -> Result<()> {
        let known = self.watch()?;
        if known.as_ref().is_some_and(|k| k.revision > watch.revision) {
            return Ok(());
        }
        if let Some(k) = known.filter(|k| k.tier_revision != watch.tier_revision) {
            self.set_meta("previous_epoch", &k.tier_revision)?;
        }
        self.set_meta("watch", watch)
    }

    /// Sets the one-minute alarm when none is set.
    async fn keep_alarm(&self, now_ms: u64) -> Result<()> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage.set_alarm((now_ms + CHECK_MS) as i64).await?;
        }
        Ok(())
    }

    /// `POST delta/{flag}`: applies a batch's sightings and events, then checks the guards.
    async fn delta(&self, flag: &str, text: &str, now_ms: u64) -> Result<Response> {
        let delta: FlagDelta = match serde_json::from_str(text) {
            Ok(d) => d,
            Err(e) => return Response::error(format!("delta: {e}"), 400),
        };
        let mut watch = self.watch()?;
        // Served under a revision the watch has not seen: the plan may have changed.
        let newest = delta.sightings.iter().map(|s| s.key.revision).max();
        if watch.is_none() || newest > watch.as_ref().map(|w| w.revision) {
            match self.pull_watch(flag).await {
                Ok(Some(w)) => {
                    self.keep_watch(&w)?;
                    watch = Some(w);
                }
                Ok(None) => {}
                // Counting goes on under the watch known; the alarm checks again.
                Err(e) => log::error(flag, "watch_pull_failed", &e.to_string()),
            }
        }
        let epoch = watch.as_ref().map_or(0, |w| w.tier_revision);
        let changed = self.apply(&delta, epoch, now_ms)?;
        if let Some(w) = watch.as_ref().filter(|_| changed > 0) {
            self.check(w, now_ms).await?;
        }
        // The operators' pages reload a flag's stats at most every STATS_NOTICE_MS.
        if changed > 0 && now_ms.saturating_sub(self.stats_told_ms.get()) >= STATS_NOTICE_MS {
            self.stats_told_ms.set(now_ms);
            let notice = json!({"type": "stats", "flag": flag});
            self.state
                .wait_until(crate::live::tell_admin(self.env.clone(), notice));
        }
        self.keep_alarm(now_ms).await?;
        json_response(&json!({"changed": changed}))
    }

    /// Applies a delta to the window `epoch` (no await: its writes land together); answers how
    /// many facts changed something.
    fn apply(&self, delta: &FlagDelta, epoch: u64, now_ms: u64) -> Result<usize> {
        let mut tally = self.tally(epoch)?;
        let capped = capped_of(delta, epoch);
        tally.capped += capped;
        let mut units: BTreeMap<Unit, (UnitState, bool)> = BTreeMap::new();
        let mut rows = Series::new();
        let mut changed = 0;
        // A net's first unit in an arm speaks for it (the `nets` table remembers who came
        // first); a failed lookup is kept and returned after the loop.
        let failed: Cell<Option<worker::Error>> = Cell::new(None);
        let mut claim = |net: Net, arm: &str| match self.claim_net(epoch, net, arm) {
            Ok(first) => first,
            Err(e) => {
                failed.set(Some(e));
                false
            }
        };
        for (unit, fact) in facts_of(delta, epoch) {
            let (state, dirty) = match units.entry(unit) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert((self.unit_state(epoch, unit)?, false)),
            };
            let Some((before, after)) = state.learn(fact, &mut claim) else {
                continue;
            };
            if let Some(e) = failed.take() {
                return Err(e);
            }
            *dirty = true;
            changed += 1;
            tally.update(before.as_ref(), after.as_ref());
            for c in [&before, &after].into_iter().flatten() {
                if let Some(arm) = &c.arm {
                    if let Entry::Vacant(e) = rows.entry((c.minute, arm.clone())) {
                        e.insert(self.series_row(Rows::Minutes, epoch, c.minute, arm)?);
                    }
                }
            }
            update_series(&mut rows, before.as_ref(), after.as_ref());
        }
        if changed == 0 && capped == 0 {
            return Ok(0);
        }
        for (unit, (state, dirty)) in &units {
            if *dirty {
                self.put_unit(epoch, *unit, state, now_ms)?;
            }
        }
        self.put_tally(epoch, &tally)?;
        self.put_series(epoch, &rows)?;
        Ok(changed)
    }

    /// Every guard's verdict on the window of `watch` at `now_ms`.
    fn verdicts(&self, watch: &Watch, now_ms: u64) -> Result<Vec<Verdict>> {
        if watch.guards.is_none() {
            return Ok(Vec::new());
        }
        let epoch = watch.tier_revision;
        let now_minute = now_ms / 60_000;
        let tally = self.tally(epoch)?;
        let series = self.series(epoch, watch.series_from(now_minute))?;
        Ok(watch.verdicts(&tally, &series, now_minute))
    }

    /// Checks the guards: acts through the control plane when one trips, else tells it when
    /// their states changed.
    async fn check(&self, watch: &Watch, now_ms: u64) -> Result<()> {
        let verdicts = self.verdicts(watch, now_ms)?;
        let report = GuardReport {
            flag: watch.flag.clone(),
            tier_revision: watch.tier_revision,
            verdicts,
        };
        let sent = Sent::of(watch, &report.verdicts);
        let control = internal::control(&self.env)?;
        let act = report.verdicts.iter().any(|v| v.action.is_some());
        // A plan with autoAdvance whose guards are all healthy after the dwell time: the
        // control plane climbs a tier (and answers the new window's watch).
        if act || watch.ready_to_climb(&report.verdicts, now_ms) {
            let acted: Acted = internal::post_json(&control, "act", &report).await?;
            if let Some(w) = acted.watch {
                self.keep_watch(&w)?;
            }
            self.set_meta("sent", &Sent::default())?;
        } else if self.meta::<Sent>("sent")?.as_ref() != Some(&sent) {
            internal::post_json::<_, serde_json::Value>(&control, "verdicts", &report).await?;
            self.set_meta("sent", &sent)?;
        }
        Ok(())
    }

    /// The flag's watch, from the control plane (`None`: no such flag).
    async fn pull_watch(&self, flag: &str) -> Result<Option<Watch>> {
        let control = internal::control(&self.env)?;
        let text = internal::call(&control, Method::Get, &format!("watch/{flag}"), None).await?;
        serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))
    }

    /// `POST watch/{flag}`: the control plane tells of a change; answers the verdicts now (it
    /// keeps them as the objections to an advance).
    async fn watch_changed(&self, text: &str, now_ms: u64) -> Result<Response> {
        let watch: Watch = match serde_json::from_str(text) {
            Ok(w) => w,
            Err(e) => return Response::error(format!("watch: {e}"), 400),
        };
        self.keep_watch(&watch)?;
        let verdicts = self.verdicts(&watch, now_ms)?;
        let sent = Sent::of(&watch, &verdicts);
        self.set_meta("sent", &sent)?;
        self.keep_alarm(now_ms).await?;
        json_response(&verdicts)
    }

    /// `POST stats/{flag}`: the stats API's answer over a window.
    fn stats(&self, text: &str, now_ms: u64) -> Result<Response> {
        let ask: StatsAsk = match serde_json::from_str(text) {
            Ok(a) => a,
            Err(e) => return Response::error(format!("stats: {e}"), 400),
        };
        let window = match Window::parse(ask.window.as_deref()) {
            Ok(w) => w,
            Err(e) => {
                let r = pilot_gate_core::http::problem::reply(&e);
                return Ok(Response::from_json(&r.body)?.with_status(r.status));
            }
        };
        self.keep_watch(&ask.watch)?;
        let watch = &ask.watch;
        let epoch = watch.tier_revision;
        let now_minute = now_ms / 60_000;
        let from = window.start_minute(watch.window_start_ms(), now_minute);
        let bucket = bucket_minutes(now_minute + 1 - from);
        let series = self.series(epoch, from)?;
        let (in_window, points) = series_of(&series, from, bucket);
        let tally = self.tally(epoch)?;
        // The whole tier is the tally (minutes older than 48 h are rolled up into hours).
        let arms = match window {
            Window::Tier => arms_of(&tally.arms),
            _ => in_window,
        };
        let verdicts = self.verdicts(watch, now_ms)?;
        let report = Report {
            watch,
            window,
            minutes: (from, now_minute),
            arms: &arms,
            mixed: tally.mixed,
            outside: tally.outside,
            capped: tally.capped,
            series: (&points, bucket),
            verdicts: &verdicts,
        };
        json_response(&report.view())
    }

    /// `GET figures/{flag}`: the current window's tally, for `/metrics`.
    fn figures(&self) -> Result<Response> {
        let epoch = self.watch()?.map_or(0, |w| w.tier_revision);
        json_response(&EvidenceFigures {
            tally: self.tally(epoch)?,
            storage_bytes: self.sql().database_size() as u64,
        })
    }
}
