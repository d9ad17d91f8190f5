//! The guide app's binary: `cargo run -p guide -- serve` (or `migrate`, `schema`, ...).

fn main() -> std::process::ExitCode {
    guide::app(guide::Settings::from_env()).run()
}
