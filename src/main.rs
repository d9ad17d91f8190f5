//! The `bcgraph` command: bcgraph's built-in app, run through the same front door as
//! every app built on the library.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bcgraph::App::new().run()
}
