//! Apply's progress on a terminal: one live line per resource in progress (its address,
//! what it does or waits for, and for how long) above an `N of M done` line, while each
//! finished, failed or skipped step is printed once above them as the plain progress
//! lines print it (`render::progress::Lines`, which stays the output without a terminal:
//! CI logs keep their timestamped lines).

use crate::apply::{Event, Reporter};
use crate::plan::{Action, Plan};
use crate::render::progress::Lines;
use crate::render::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Live {
    multi: MultiProgress,
    total: ProgressBar,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// How a step's end reads: as the plain lines say it.
    lines: Lines,
}

/// The steps apply takes for a plan: one per change, two for a replacement.
pub fn steps(plan: &Plan) -> u64 {
    plan.actions().map(|r| if r.action == Action::Replace { 2 } else { 1 }).sum()
}

impl Live {
    pub fn new(steps: u64, style: Style) -> Live {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let total = multi.add(ProgressBar::new(steps));
        total.set_style(ProgressStyle::with_template("  {pos} of {len} done, {elapsed} so far").expect("a template"));
        total.enable_steady_tick(Duration::from_millis(500));
        Live { multi, total, bars: Mutex::new(HashMap::new()), lines: Lines { style, timestamps: false } }
    }

    /// Above the live lines, once.
    fn print(&self, e: Event) {
        let line = self.lines.line(e);
        let _ = self.multi.println(line);
    }

    fn end(&self, addr: &str) {
        if let Some(bar) = self.bars.lock().expect("bars").remove(addr) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.total.inc(1);
    }

    /// Clear the live lines (the summary follows).
    pub fn finish(&self) {
        for (_, bar) in self.bars.lock().expect("bars").drain() {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
    }
}

impl Reporter for Live {
    fn event(&self, e: Event) {
        match &e {
            Event::Started { addr, kind } => {
                let bar = self.multi.insert_before(&self.total, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:28} {elapsed:>4}  {wide_msg}")
                        .expect("a template")
                        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
                );
                bar.set_prefix(addr.to_string());
                bar.set_message(kind.doing_word());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars.lock().expect("bars").insert(addr.to_string(), bar);
            }
            Event::Progress { addr, message } => {
                if let Some(bar) = self.bars.lock().expect("bars").get(addr.as_str()) {
                    bar.set_message(message.clone());
                }
            }
            Event::Finished { addr, .. } | Event::Failed { addr, .. } => {
                let addr = addr.to_string();
                self.print(e);
                self.end(&addr);
            }
            Event::Skipped { addr, .. } => {
                let addr = addr.to_string();
                self.print(e);
                self.end(&addr);
            }
        }
    }
}
