//! `mcastlab completions` and `mcastlab man`: the command line described for shells and `man`.

use std::{
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{
    Cli,
    output::{OutputArg, OutputFormat, print_json},
};

/// Arguments of `mcastlab completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `mcastlab man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (mcastlab.1, mcastlab-group-add.1, ...) into this folder
    /// instead of printing the top command's page.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArg,
}

pub fn run_completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "mcastlab",
        &mut io::stdout().lock(),
    );
    Ok(())
}

pub fn run_man(args: ManArgs) -> anyhow::Result<()> {
    let Some(dir) = &args.out else {
        let mut stdout = io::stdout().lock();
        clap_mangen::Man::new(Cli::command()).render(&mut stdout)?;
        stdout.flush()?;
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    let mut command = Cli::command().disable_help_subcommand(true);
    // Gives subcommands their display names (mcastlab-group-add), which name their pages.
    command.build();
    let mut pages = Vec::new();
    write_pages(&command, dir, &mut pages)?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({ "pages": pages })),
        OutputFormat::Table => {
            for page in &pages {
                println!("wrote {}", page.display());
            }
            Ok(())
        }
    }
}

/// Writes the page of `command` and of each of its subcommands into `dir`.
fn write_pages(command: &clap::Command, dir: &Path, pages: &mut Vec<PathBuf>) -> io::Result<()> {
    pages.push(clap_mangen::Man::new(command.clone()).generate_to(dir)?);
    for subcommand in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        write_pages(subcommand, dir, pages)?;
    }
    Ok(())
}
