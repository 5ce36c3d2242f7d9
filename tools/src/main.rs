fn main() {
    eprintln!("sprig: not yet implemented");
    std::process::exit(2);
}
