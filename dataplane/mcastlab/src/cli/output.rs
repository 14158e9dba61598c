//! Output for people (aligned tables) and for scripts (`-o json`).

use std::io::{self, Write};

use serde::Serialize;

/// How a listing is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// One JSON document.
    Json,
}

/// The `-o/--output` option.
#[derive(Debug, clap::Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

/// Prints what a command did: `json` with `-o json`, the line `text` otherwise.
pub fn print_outcome(
    format: OutputFormat,
    json: serde_json::Value,
    text: impl std::fmt::Display,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(&json),
        OutputFormat::Table => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Prints rows under a header, each column as wide as its widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
