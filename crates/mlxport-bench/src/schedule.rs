//! The order of runs: warmups, timed runs until the run count or minimum
//! time is reached, prepare and cleanup hooks, and interleaving.
//!
//! Several commands (a baseline and a candidate) are measured in rounds:
//! each round runs every command once, in a fixed order (ABAB...) or in an
//! order shuffled per round from the seed. Interleaving spreads slow drifts
//! of the machine (thermal state, background load, caches) over both
//! commands instead of charging them to whichever ran second, and makes the
//! i-th runs of each command a pair measured under the same conditions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::CommandSpec;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::runner::{run_once, Outcome, Run, RunOptions, Tail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The commands in the order given, every round (ABAB...).
    Alternate,
    /// A seeded shuffle per round.
    Random,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Untimed rounds first.
    pub warmup: u32,
    /// Exactly this many timed rounds (overrides the three below).
    pub runs: Option<u32>,
    /// At least this many rounds...
    pub min_runs: u32,
    /// ...and until every command has spent this long in timed runs...
    pub min_time: Duration,
    /// ...but never more than this many rounds.
    pub max_runs: Option<u32>,
    pub order: Order,
    /// Seed of the randomized order.
    pub seed: u64,
    /// Keep going when a run fails or times out.
    pub ignore_failure: bool,
    /// Run before every run (warmups included), untimed.
    pub prepare: Option<CommandSpec>,
    /// Run once after all runs, even after a failure.
    pub cleanup: Option<CommandSpec>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            warmup: 0,
            runs: None,
            min_runs: 10,
            min_time: Duration::from_secs(3),
            max_runs: None,
            order: Order::Alternate,
            seed: crate::stats::DEFAULT_SEED,
            ignore_failure: false,
            prepare: None,
            cleanup: None,
        }
    }
}

/// Progress reports.
#[derive(Debug)]
pub enum Event<'a> {
    Warmup { command: usize, round: u32 },
    Run { command: usize, round: u32, outcome: &'a Outcome },
}

/// Everything measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Timed runs per command, in round order.
    pub runs: Vec<Vec<Run>>,
    /// The command index of every timed run, in the order they ran.
    pub sequence: Vec<usize>,
    /// Output of each command's last run.
    pub last_output: Vec<(Tail, Tail)>,
}

/// Measure the commands by the plan.
pub fn measure(commands: &[CommandSpec], plan: &Plan, opts: &RunOptions, on: &mut dyn FnMut(Event)) -> Result<Measured> {
    let result = measure_inner(commands, plan, opts, on);
    if let Some(c) = &plan.cleanup {
        let hook = hook(c, "cleanup", opts);
        if result.is_ok() {
            hook?;
        }
    }
    result
}

fn measure_inner(commands: &[CommandSpec], plan: &Plan, opts: &RunOptions, on: &mut dyn FnMut(Event)) -> Result<Measured> {
    let mut rng = Rng::new(plan.seed);
    let mut m = Measured { runs: vec![Vec::new(); commands.len()], sequence: Vec::new(), last_output: vec![Default::default(); commands.len()] };
    let mut order: Vec<usize> = (0..commands.len()).collect();
    let mut next_order = |order: &mut Vec<usize>| {
        if plan.order == Order::Random {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
        }
    };
    for round in 0..plan.warmup {
        next_order(&mut order);
        for &c in order.iter() {
            if let Some(p) = &plan.prepare {
                hook(p, "prepare", opts)?;
            }
            on(Event::Warmup { command: c, round });
            let o = run_once(&commands[c], opts)?;
            if !o.run.succeeded() && !plan.ignore_failure {
                return Err(failed(format!("warmup run {}", round + 1), &commands[c], &o, m));
            }
        }
    }
    let mut spent = vec![0.0f64; commands.len()];
    let mut round = 0u32;
    loop {
        let done = match plan.runs {
            Some(n) => round >= n,
            None => (round >= plan.min_runs.max(1) && spent.iter().all(|&s| s >= plan.min_time.as_secs_f64())) || plan.max_runs.is_some_and(|mx| round >= mx),
        };
        if done {
            break;
        }
        next_order(&mut order);
        for &c in order.iter() {
            if let Some(p) = &plan.prepare {
                hook(p, "prepare", opts)?;
            }
            let o = run_once(&commands[c], opts)?;
            on(Event::Run { command: c, round, outcome: &o });
            spent[c] += o.run.wall_s;
            let ok = o.run.succeeded();
            m.runs[c].push(o.run.clone());
            m.sequence.push(c);
            m.last_output[c] = (o.stdout.clone(), o.stderr.clone());
            if !ok && !plan.ignore_failure {
                return Err(failed(format!("run {}", round + 1), &commands[c], &o, m));
            }
        }
        round += 1;
    }
    Ok(m)
}

fn failed(what: String, c: &CommandSpec, o: &Outcome, m: Measured) -> Error {
    Error::Failed { what, command: c.display.clone(), status: o.run.status_text(), stderr: o.stderr.text(), measured: Box::new(m) }
}

fn hook(c: &CommandSpec, which: &'static str, opts: &RunOptions) -> Result<()> {
    let o = run_once(c, &RunOptions { output: crate::runner::OutputMode::Capture, ..opts.clone() })?;
    if o.run.succeeded() {
        Ok(())
    } else {
        Err(Error::Hook { which, command: c.display.clone(), status: o.run.status_text(), stderr: o.stderr.text() })
    }
}
