//! The comparative guard over simulated pilots: 1,000 A/A runs (both arms at the same error
//! rate) roll back at most α of the time, and a real R = 3 regression is caught within
//! minutes. Figures are printed (`cargo test --test control simulation -- --nocapture`).

use pilot_gate::core::control::guards::{
    evaluate, Comparative, Evidence, GuardState, Guards, Setting,
};
use pilot_gate::core::control::tally::{Arm, Arms};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.unit() < p).count() as u64
    }
}

const RUNS: u64 = 1_000;
const MINUTES: u64 = 360;
/// Page views per arm per minute (the demo's traffic at 50 %).
const VIEWS: u64 = 20;
const BASE_ERROR_RATE: f64 = 0.02;

/// The minute at which the comparative guard rolls back, if it does within [`MINUTES`].
fn run(rng: &mut Rng, pilot_error_rate: f64) -> Option<u64> {
    let guards = Guards {
        comparative: Some(Comparative::default()),
        breaker: None,
        sample_ratio: None,
        no_data: None,
        guardrails: vec![],
    };
    let s = Setting {
        pilot: "on",
        control: "off",
        off: "off",
        tier: 3,
        expected_share: Some(0.5),
        breaker_strikes: 0,
    };
    let (mut p, mut c) = (Arm::default(), Arm::default());
    for minute in 1..=MINUTES {
        p.exposures += VIEWS;
        c.exposures += VIEWS;
        p.errors += rng.binomial(VIEWS, pilot_error_rate);
        c.errors += rng.binomial(VIEWS, BASE_ERROR_RATE);
        let since_tier = Arms::from([("on".to_owned(), p.clone()), ("off".to_owned(), c.clone())]);
        let e = Evidence {
            since_tier,
            ..Evidence::default()
        };
        match evaluate(&guards, &s, &e)[0].state {
            GuardState::Tripped => return Some(minute),
            // A healthy verdict lets the plan advance; the test keeps watching the tier.
            _ => continue,
        }
    }
    None
}

#[test]
fn a_thousand_aa_runs_roll_back_at_most_alpha_of_the_time() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let false_rollbacks = (0..RUNS)
        .filter(|_| run(&mut rng, BASE_ERROR_RATE).is_some())
        .count();
    let rate = false_rollbacks as f64 / RUNS as f64;
    println!(
        "A/A: {false_rollbacks} false rollbacks in {RUNS} runs of {MINUTES} min ({VIEWS} views/arm/min, {BASE_ERROR_RATE} errors/view): {rate:.3} (alpha = 0.01)"
    );
    // Ville's inequality bounds it by α = 0.01; allow 3 standard errors of a 1,000-run estimate.
    assert!(
        rate <= 0.01 + 3.0 * (0.01f64 * 0.99 / RUNS as f64).sqrt(),
        "{rate}"
    );
}

#[test]
fn an_r3_regression_is_caught_within_minutes() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut minutes: Vec<u64> = (0..RUNS)
        .filter_map(|_| run(&mut rng, 3.0 * BASE_ERROR_RATE))
        .collect();
    minutes.sort_unstable();
    let caught = minutes.len();
    let median = minutes[caught / 2];
    let p90 = minutes[caught * 9 / 10];
    println!(
        "R = 3: {caught} of {RUNS} runs rolled back; median {median} min, p90 {p90} min to detection ({VIEWS} views/arm/min)"
    );
    assert!(caught as f64 >= 0.99 * RUNS as f64, "{caught}");
    assert!(median <= 60, "{median}");
}
