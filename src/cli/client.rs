//! `client --out DIR [--name PACKAGE]` writes the app's JavaScript client package;
//! `client --check DIR` fails when the package in DIR is not what would be written.

use crate::app::App;
use crate::client_package::{Package, existing_name};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["out", "check"])))]
pub(crate) struct ClientArgs {
    /// Write the package into this directory (created if needed).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compare the package in this directory with what would be written; exit non-zero
    /// naming the stale files.
    #[arg(long)]
    check: Option<PathBuf>,
    /// The npm package name; by default the one in DIR/package.json, else
    /// `<program>-client`.
    #[arg(long)]
    name: Option<String>,
}

pub(crate) fn run(app: App, args: ClientArgs) -> anyhow::Result<()> {
    let dir = match (&args.out, &args.check) {
        (Some(dir), _) | (None, Some(dir)) => dir.clone(),
        (None, None) => anyhow::bail!("pass --out DIR or --check DIR"),
    };
    let name = args
        .name
        .or_else(|| existing_name(&dir))
        .unwrap_or_else(default_name);
    let (registry, sdl) = app.registry_and_sdl()?;
    let package = Package::generate(&registry, &sdl, &name)?;
    if args.check.is_some() {
        let stale = package.stale_files(&dir);
        if !stale.is_empty() {
            anyhow::bail!(
                "the client package in {} is stale ({}): regenerate it with `client --out {}`",
                dir.display(),
                stale.join(", "),
                dir.display()
            );
        }
        println!("the client package in {} is up to date", dir.display());
        return Ok(());
    }
    package.write(&dir)?;
    println!("wrote the client package {name} to {}", dir.display());
    Ok(())
}

/// `<program>-client`: `bcgraph-client`, or `guide-client` for an app's binary.
fn default_name() -> String {
    let program = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "bcgraph".into());
    let clean: String = program
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-client", clean.trim_matches('-'))
}
