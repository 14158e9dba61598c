//! Progress of long commands on stderr: a bar when stderr is a terminal, plain lines otherwise
//! (logs, CI), nothing with `-q`.

use std::{io::IsTerminal as _, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the bar redraws while a step runs.
const TICK: Duration = Duration::from_millis(120);

/// The progress of one command.
pub struct Progress {
    /// The bar, when stderr is a terminal and `-q` was not given.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress over `steps` steps, or an open-ended count when `None`.
    pub fn new(steps: Option<u64>) -> Self {
        let bar = (!super::logging::quiet() && std::io::stderr().is_terminal()).then(|| {
            let (bar, template) = match steps {
                Some(steps) => (
                    ProgressBar::new(steps),
                    "{spinner} [{elapsed}] {bar:30} {pos}/{len} {wide_msg}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{spinner} [{elapsed}] step {pos} {wide_msg}",
                ),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
            bar.enable_steady_tick(TICK);
            bar
        });
        Self { bar }
    }

    /// Reports that step `what` starts.
    pub fn step(&mut self, what: &str) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(what.to_owned());
            }
            None if !super::logging::quiet() => eprintln!("  {what}"),
            None => {}
        }
    }

    /// A line that stays (above the bar, or plain), unless `-q`.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if !super::logging::quiet() => eprintln!("{text}"),
            None => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
