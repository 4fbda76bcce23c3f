//! Command line and process lifecycle.

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
