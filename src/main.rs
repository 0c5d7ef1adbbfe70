fn main() -> std::process::ExitCode {
    ticketlab::cli::main()
}
