//! The `bcgraph` command: bcgraph's built-in app, run through the same front door as
//! every app built on the library.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    commit_memory_on_demand();
    bcgraph::App::new().run()
}

/// mimalloc commits each memory arena whole unless `MIMALLOC_ARENA_EAGER_COMMIT=0`, and
/// reads its options as the process starts, before `main` runs (setting the option from
/// here is too late: the first arena is committed already). An idle `bcgraph serve`
/// held 29 MB of its own memory that way instead of 10 MB. So the process starts itself
/// once more with the option set, unless the environment chose it already.
#[cfg(unix)]
fn commit_memory_on_demand() {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    // `exec` returns only when it failed; the process then goes on as it is.
    let _ = command.args(args).env(OPTION, "0").exec();
}

#[cfg(not(unix))]
fn commit_memory_on_demand() {}
