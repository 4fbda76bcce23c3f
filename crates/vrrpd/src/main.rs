fn main() -> std::process::ExitCode {
    vrrpd::cli::main()
}
