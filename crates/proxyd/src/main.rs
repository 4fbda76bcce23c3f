fn main() -> std::process::ExitCode {
    proxyd::cli::main()
}
