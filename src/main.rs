fn main() -> std::process::ExitCode {
    sigc::cli::main()
}
